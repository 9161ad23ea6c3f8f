-- Hourly bars rolled up from minute bars. On TimescaleDB this name is a continuous aggregate
-- (see 008_minute_rollup.timescale.sql, applied instead of this file); on plain PostgreSQL a view
-- with the same columns, so analysts' SQL works on both.
create or replace view raw.bars_hourly as
select
    source,
    symbol,
    date_trunc('hour', ts)                                   as bucket,
    (array_agg(open order by ts))[1]                         as open,
    max(high)                                                as high,
    min(low)                                                 as low,
    (array_agg(close order by ts desc))[1]                   as close,
    sum(volume)                                              as volume,
    sum(vwap * volume) / nullif(sum(volume), 0)              as vwap,
    sum(trade_count)                                         as trade_count,
    count(*)                                                 as minutes
from raw.bars_minute
group by source, symbol, date_trunc('hour', ts);
