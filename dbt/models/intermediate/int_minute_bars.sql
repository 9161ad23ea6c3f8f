-- One-minute bars of the preferred source. Grain: (symbol, ts).
-- The source is chosen per (symbol, session), not per minute, so a session's rollups never mix
-- two feeds; coarser stored series ("alpaca:5Min") are left out.
-- regular_session: the bar opens within the NYSE regular session of its day (market open to
-- close from the calendar seed, early closes included); false for pre- and post-market minutes
-- and for minutes on a day the calendar has no session for.
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
    r.symbol,
    r.session,
    r.ts,
    r.source_name as source,
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    r.vwap,
    r.trade_count,
    r.ingested_at,
    coalesce(r.ts >= s.market_open and r.ts < s.market_close, false) as regular_session
from ranked as r
left join {{ ref('int_sessions') }} as s on s.session = r.session
where r.source_preference = 1
