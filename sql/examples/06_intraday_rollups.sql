-- Five-minute and daily bars rebuilt from the preferred one-minute feed (time_bucket on
-- TimescaleDB, date_bin otherwise; the buckets are the same).
select symbol, bucket, open, high, low, close, volume, minutes
from features_intermediate.int_bars_5min
where session = (select max(session) from features_intermediate.int_bars_5min)
order by symbol, bucket;

select symbol, session, open, high, low, close, volume, minutes
from features_intermediate.int_bars_daily_from_minute
order by session desc, symbol
limit 20;
