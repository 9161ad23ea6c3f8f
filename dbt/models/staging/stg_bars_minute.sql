-- Intraday bars, every source and stored timeframe. Grain: (source, symbol, ts).
-- The stored source "alpaca:5Min" is split into source_name "alpaca" and timeframe "5Min";
-- plain names are 1-minute series. `session` is the New York calendar date of the bar.
select
    source::text                                              as source,
    split_part(source, ':', 1)                                as source_name,
    coalesce(nullif(split_part(source, ':', 2), ''), '1Min')  as timeframe,
    symbol::text                                              as symbol,
    ts::timestamptz                                           as ts,
    (ts at time zone 'America/New_York')::date                as session,
    open::double precision                                    as open,
    high::double precision                                    as high,
    low::double precision                                     as low,
    close::double precision                                   as close,
    volume::double precision                                  as volume,
    vwap::double precision                                    as vwap,
    trade_count::bigint                                       as trade_count,
    adjustment::text                                          as adjustment,
    history_version::integer                                  as history_version,
    ingested_at::timestamptz                                  as ingested_at,
    run_id::bigint                                            as ingest_run_id
from {{ source('raw', 'bars_minute') }}
