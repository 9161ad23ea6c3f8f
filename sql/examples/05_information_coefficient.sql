-- Research only: how well a feature at T ranks the next open-to-open return (T+1 -> T+2).
-- Labels live in features.forward_returns and are joined here for evaluation, never into the
-- observations an agent sees.
with joined as (
    select f.session, f.xs_rank_ret_mean_20 as signal, r.fwd_open_lr as outcome
    from features.daily_features as f
    inner join features.forward_returns as r using (symbol, session)
    where f.xs_rank_ret_mean_20 is not null and r.fwd_open_lr is not null
)
select date_trunc('year', session)::date as year,
       count(distinct session) as sessions,
       corr(signal, outcome) as pooled_corr
from joined
group by 1
order by 1;
