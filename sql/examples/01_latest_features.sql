-- The newest session's features for every symbol, strongest 20-session momentum first.
select symbol, session, close, lr_close, ret_mean_20, vol_20, rsi_14, xs_rank_ret_mean_20
from features.daily_features
where session = (select max(session) from features.daily_features)
order by ret_mean_20 desc nulls last;
