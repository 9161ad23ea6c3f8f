-- One symbol's recent history: log changes, volatility and where it stood in the cross-section.
select session, gap_sessions, lr_open, lr_close, lr_volume, vol_20, ma_ratio_20, rsi_14,
       xs_z_lr_close
from features.daily_features
where symbol = 'AAPL'
order by session desc
limit 60;
