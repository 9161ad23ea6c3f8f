-- Ranks within each universe (members of the day only) at the newest session.
select universe, symbol, session, universe_size, xs_rank_ret_mean_20, xs_z_vol_20
from features.universe_daily_features
where session = (select max(session) from features.universe_daily_features)
order by universe, xs_rank_ret_mean_20 desc nulls last;
