-- Daily bars, every source. Grain: (source, symbol, session).
select
    source::text                  as source,
    symbol::text                  as symbol,
    session::date                 as session,
    open::double precision        as open,
    high::double precision        as high,
    low::double precision         as low,
    close::double precision       as close,
    volume::double precision      as volume,
    vwap::double precision        as vwap,
    trade_count::bigint           as trade_count,
    adjustment::text              as adjustment,
    history_version::integer      as history_version,
    ingested_at::timestamptz      as ingested_at,
    run_id::bigint                as ingest_run_id
from {{ source('raw', 'bars_daily') }}
