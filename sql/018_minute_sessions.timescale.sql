-- tradewind: no-transaction
-- (continuous aggregates cannot be created inside a transaction block)
-- TimescaleDB: raw.bars_hourly as a continuous aggregate again (replacing 008's), over
-- regular-session minutes only, buckets aligned to the 09:30 New York open (origin 14:30 UTC;
-- New York is a whole number of hours from UTC, so xx:30 UTC all year). The old aggregate is
-- dropped (its policy with it) and the new one refreshed over all history once.
drop materialized view if exists raw.bars_hourly;
create materialized view if not exists raw.bars_hourly
with (timescaledb.continuous) as
select
    source,
    symbol,
    time_bucket(interval '1 hour', ts, origin => timestamptz '2000-01-03 14:30:00+00') as bucket,
    first(open, ts)                               as open,
    max(high)                                     as high,
    min(low)                                      as low,
    last(close, ts)                               as close,
    sum(volume)                                   as volume,
    sum(vwap * volume) / nullif(sum(volume), 0)   as vwap,
    sum(trade_count)                              as trade_count,
    count(*)                                      as minutes
from raw.bars_minute
where raw.is_regular_minute(ts)
group by source, symbol, time_bucket(interval '1 hour', ts, origin => timestamptz '2000-01-03 14:30:00+00')
with no data;

call refresh_continuous_aggregate('raw.bars_hourly', null, null);

select add_continuous_aggregate_policy('raw.bars_hourly',
    start_offset => interval '30 days',
    end_offset => interval '1 hour',
    schedule_interval => interval '1 hour',
    if_not_exists => true);
