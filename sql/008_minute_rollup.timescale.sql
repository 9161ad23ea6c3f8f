-- tradewind: no-transaction
-- (continuous aggregates cannot be created inside a transaction block)
-- TimescaleDB: hourly bars as a continuous aggregate over minute bars, replacing the plain view
-- that 008_minute_rollup.sql created, with the same columns.
-- Only the plain view is dropped: a rerun after a partial failure keeps an existing aggregate.
do $$
begin
    if exists (select 1 from pg_views where schemaname = 'raw' and viewname = 'bars_hourly') then
        drop view raw.bars_hourly;
    end if;
end
$$;
create materialized view if not exists raw.bars_hourly
with (timescaledb.continuous) as
select
    source,
    symbol,
    time_bucket(interval '1 hour', ts)            as bucket,
    first(open, ts)                               as open,
    max(high)                                     as high,
    min(low)                                      as low,
    last(close, ts)                               as close,
    sum(volume)                                   as volume,
    sum(vwap * volume) / nullif(sum(volume), 0)   as vwap,
    sum(trade_count)                              as trade_count,
    count(*)                                      as minutes
from raw.bars_minute
group by source, symbol, time_bucket(interval '1 hour', ts)
with no data;

select add_continuous_aggregate_policy('raw.bars_hourly',
    start_offset => interval '30 days',
    end_offset => interval '1 hour',
    schedule_interval => interval '1 hour',
    if_not_exists => true);
