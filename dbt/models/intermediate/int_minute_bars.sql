-- One-minute bars of the preferred source. Grain: (symbol, ts).
-- The source is chosen per (symbol, session), not per minute, so a session's rollups never mix
-- two feeds; coarser stored series ("alpaca:5Min") are left out.
with one_minute as (
    select *
    from {{ ref('stg_bars_minute') }}
    where timeframe = '1Min'
),

ranked as (
    select
        m.*,
        dense_rank() over (
            partition by m.symbol, m.session
            order by {{ tradewind.source_rank('m.source_name') }}, m.source_name
        ) as source_preference
    from one_minute as m
)

select
    symbol,
    session,
    ts,
    source_name as source,
    open,
    high,
    low,
    close,
    volume,
    vwap,
    trade_count,
    ingested_at
from ranked
where source_preference = 1
