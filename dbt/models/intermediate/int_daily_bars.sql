{{ config(materialized='table', post_hook='analyze {{ this }}',
          pre_hook="{{ tradewind.feature_model_settings() }}",
          indexes=[{'columns': ['symbol', 'session'], 'unique': true}]) }}
-- One daily bar per symbol per session: the bar of the highest-priority source
-- (var source_priority) among those that delivered one. Grain: (symbol, session).
-- These are the *prices* of the session; returns are computed within one price series in
-- int_series_bars / daily_features / forward_returns, never between two rows of this table.
-- Rows exist only where a bar exists; a missing session is made explicit by gap_sessions on the
-- next bar (and by int_daily_bars_calendar), never by a forward-filled row.
-- A table, rebuilt every run: the marts and tests read it several times per run, and bar_index
-- and gap_sessions of late rows depend on the whole history.
with ranked as (
    select
        b.*,
        row_number() over by_bar as source_preference,
        -- Fingerprint of every series' bar of this (symbol, session): the incremental marts
        -- compare it with the one they were built from, so a change in any source is seen.
        bit_xor(hash_record_extended(row(
            b.source, b.adjustment, b.history_version, b.open, b.high, b.low, b.close, b.volume
        ), 0)) over (partition by b.symbol, b.session) as bars_digest
    from {{ ref('stg_bars_daily') }} as b
    window by_bar as (
        partition by b.symbol, b.session
        order by {{ tradewind.source_rank('b.source') }}, b.source
    )
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
    history_version,
    open,
    high,
    low,
    close,
    volume,
    vwap,
    trade_count,
    ingested_at,
    session_index,
    bars_digest,
    row_number() over by_symbol                         as bar_index,
    lag(session) over by_symbol                         as prev_session,
    session_index - lag(session_index) over by_symbol - 1 as gap_sessions,
    -- The session's price bar comes from another series than the previous one's.
    lag(source) over by_symbol is not null
        and (source, adjustment, history_version) is distinct from (
            lag(source) over by_symbol,
            lag(adjustment) over by_symbol,
            lag(history_version) over by_symbol
        )                                               as source_changed
from preferred
window by_symbol as (partition by symbol order by session)
