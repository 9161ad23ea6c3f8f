{{ config(materialized='table', post_hook='analyze {{ this }}',
          indexes=[{'columns': ['symbol', 'session'], 'unique': true}]) }}
-- One daily bar per symbol per session: the bar of the highest-priority source
-- (var source_priority) among those that delivered one. Grain: (symbol, session).
-- Rows exist only where a bar exists; a missing session is made explicit by gap_sessions on the
-- next bar (and by int_daily_bars_calendar), never by a forward-filled row.
-- A table, rebuilt every run: the marts and tests read it several times per run, and bar_index
-- and gap_sessions of late rows depend on the whole history.
with ranked as (
    select
        b.*,
        row_number() over (
            partition by b.symbol, b.session
            order by {{ tradewind.source_rank('b.source') }}, b.source
        ) as source_preference
    from {{ ref('stg_bars_daily') }} as b
),

preferred as (
    select r.*, s.session_index
    from ranked as r
    inner join {{ ref('int_sessions') }} as s on s.session = r.session
    where r.source_preference = 1
)

select
    symbol,
    session,
    source,
    adjustment,
    open,
    high,
    low,
    close,
    volume,
    vwap,
    trade_count,
    ingested_at,
    session_index,
    row_number() over by_symbol                         as bar_index,
    lag(session) over by_symbol                         as prev_session,
    session_index - lag(session_index) over by_symbol - 1 as gap_sessions
from preferred
window by_symbol as (partition by symbol order by session)
