{{ config(
    materialized='incremental',
    incremental_strategy='symbol_tails',
    unique_key=['symbol', 'session'],
    on_schema_change='fail',
    pre_hook=["{{ tradewind.feature_model_settings() }}",
              "{{ tradewind.create_bar_scope(ref('stg_bars_daily'), ref('int_sessions')) }}"],
    post_hook=["{% if not is_incremental() %}analyze {{ this }}{% endif %}",
               "{{ tradewind.widen_test_scope(ref('int_sessions')) }}",
               "{{ tradewind.log_rewritten_tails() }}"],
    indexes=[{'columns': ['symbol', 'session'], 'unique': true}, {'columns': ['session']}]) }}
-- One daily bar per symbol per session: the bar of the highest-priority source
-- (var source_priority) among those that delivered one. Grain: (symbol, session).
-- These are the *prices* of the session; returns are computed within one price series in
-- int_series_bars / daily_features / forward_returns, never between two rows of this table.
-- Rows exist only where a bar exists; a missing session is made explicit by gap_sessions on the
-- next bar (and by int_daily_bars_calendar), never by a forward-filled row.
-- Incremental (macro create_bar_scope): a run recomputes, per symbol, the rows from its first
-- added, changed or deleted bar on (bar_index, prev_session and gap_sessions of every later bar
-- depend on it), continuing the numbering from the symbol's last unchanged bar (its anchor);
-- the strategy symbol_tails replaces exactly those rows. The same rows as a full refresh.
-- What changed comes from the bars' change log (migration 060, macro logged_bar_changes), the
-- digests being the fallback; the post_hook logs the rewritten tails for the marts.
{%- set incremental = is_incremental() %}
with bars as (
    {%- if incremental %}
    -- An index range scan per scoped symbol (offset 0: not flattened into a join, which the
    -- planner, unable to size `session >= from_session`, ran as a scan of every bar).
    select b.*
    from {{ tradewind.bar_scope_table() }} as s
    cross join lateral (
        select * from {{ ref('stg_bars_daily') }} as b
        where b.symbol = s.symbol and b.session >= s.from_session
        offset 0
    ) as b
    {%- else %}
    select b.*
    from {{ ref('stg_bars_daily') }} as b
    {%- endif %}
),

ranked as (
    select
        b.*,
        row_number() over by_bar as source_preference,
        -- Fingerprint of every series' bar of this (symbol, session): the incremental marts
        -- compare it with the one they were built from, so a change in any source is seen; the
        -- session is in it, so per-year digests of it (create_bar_scope) see a moved bar too.
        bit_xor({{ tradewind.bar_hash('b') }}) over (partition by b.symbol, b.session) as bars_digest
    from bars as b
    window by_bar as (
        partition by b.symbol, b.session
        order by {{ tradewind.source_rank('b.source') }}, b.source
    )
),

preferred as (
    select
        r.symbol, r.session, r.source, r.adjustment, r.history_version, r.open, r.high, r.low,
        r.close, r.volume, r.vwap, r.trade_count, r.ingested_at, s.session_index, r.bars_digest,
        null::bigint as base_index
    from ranked as r
    inner join {{ ref('int_sessions') }} as s on s.session = r.session
    where r.source_preference = 1
    {%- if incremental %}
    -- Each scoped symbol's last bar before its scope, as built: the previous bar of the first
    -- recomputed one, and where the numbering continues (base_index + 1 is its bar_index).
    union all
    select
        a.symbol, a.session, a.source, a.adjustment, a.history_version, a.open, a.high, a.low,
        a.close, a.volume, a.vwap, a.trade_count, a.ingested_at, a.session_index, a.bars_digest,
        a.bar_index - 1 as base_index
    from {{ tradewind.bar_scope_table() }} as s
    cross join lateral (
        select t.*
        from {{ this }} as t
        where t.symbol = s.symbol and t.session < s.from_session
        order by t.session desc
        limit 1
    ) as a
    {%- endif %}
),

numbered as (
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
        base_index,
        coalesce(first_value(base_index) over by_symbol, 0)
            + row_number() over by_symbol                   as bar_index,
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
    bar_index,
    prev_session,
    gap_sessions,
    source_changed
from numbered
where base_index is null
