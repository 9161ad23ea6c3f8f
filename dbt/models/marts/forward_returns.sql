{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='session_rows',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'session'], 'unique': true}, {'columns': ['session']}],
    pre_hook=["{{ tradewind.feature_model_settings() }}",
              "{{ tradewind.create_changed_keys(ref('int_daily_bars'), ['bars_digest']) }}"],
) }}
{#-
Forward labels, for rewards and evaluation only: never join them into an observation.
Grain: one row per symbol per session on which the symbol has a bar (as daily_features).

fwd_open_lr = ln(open at T+2 / open at T+1): the open-to-open log return earned by weights
computed at the end of session T. T+1 and T+2 are the next two calendar sessions. Both opens
come from one price series (source, adjustment, history_version): the highest-priority series
(var source_priority) with a bar on both sessions, named in label_source/_adjustment/
_history_version, with its opens in next_open/next2_open. Null when no series has both (the
symbol halted, delisted, not loaded yet, or its sources switch between T+1 and T+2).
`open` is the session's price bar's open.

Incremental runs (keyed on session): a label at T reads the bars of T+1 and T+2, so a new,
changed or deleted bar of session d (any series: bars_digest; found by the pre_hook, macro
create_changed_keys) rewrites the sessions d, d-1 and d-2 (calendar), whole. Rows whose stored
T+1/T+2 no longer match the calendar are rewritten too.
-#}
{#- Bars are read from the table itself each time (not a shared CTE, which PostgreSQL would
    materialize without its index) so looking up T+1 and T+2 stays an index or hash join. -#}
{%- set bars = ref('int_daily_bars') %}
-- not materialized: each use is an index lookup into the calendar (materialized, every lookup
-- hashed all ~10k sessions again, once per labelled symbol in series_next).
with recursive sessions as not materialized (
    select session, session_index
    from {{ ref('int_sessions') }}
),

{% if is_incremental() %}
stored_sessions as (
    {{ tradewind.loose_index_scan('stored_sessions', this, 'session') }}
),

changed as (
    select session from {{ tradewind.changed_keys_table() }}
    union
    -- next_session and next2_session depend on the session only (a session's rows are always
    -- written together): one check per session, reading one row of each (a loose index scan
    -- over the session index, not a pass over every row).
    select t.session
    from stored_sessions as d
    cross join lateral (
        select x.session, x.next_session, x.next2_session from {{ this }} as x
        where x.session = d.session limit 1
    ) as t
    left join sessions as s0 on s0.session = t.session
    left join sessions as s1 on s1.session_index = s0.session_index + 1
    left join sessions as s2 on s2.session_index = s0.session_index + 2
    where (t.next_session, t.next2_session) is distinct from (s1.session, s2.session)
),

-- Equality joins only (a range join here would pair every session with every other).
affected_sessions as (
    select s.session
    from changed as c
    inner join sessions as sc on sc.session = c.session
    cross join (values (0), (1), (2)) as k (sessions_back)
    inner join sessions as s on s.session_index = sc.session_index - k.sessions_back
    union
    select session from changed
),

-- The symbols of int_daily_bars, one index probe each (a loose index scan).
bar_symbols as (
    {{ tradewind.loose_index_scan('bar_symbols', bars, 'symbol') }}
),

-- materialized: the few affected rows first (left to itself the planner joined every bar to
-- the calendar before filtering them, ~3 s).
labelled_bars as materialized (
    select b.symbol, b.session, b.open, b.bars_digest
    from bar_symbols as y
    cross join lateral (
        select b.symbol, b.session, b.open, b.bars_digest from {{ bars }} as b
        where b.symbol = y.symbol and b.session = any(array(select session from affected_sessions))
        offset 0  -- index probes per (symbol, session): the table has no index on session alone
    ) as b
),

-- The bars the labels read: those of T+1 and T+2 of every labelled session.
read_sessions as (
    select s.session
    from affected_sessions as a
    inner join sessions as sa on sa.session = a.session
    cross join (values (1), (2)) as k (sessions_ahead)
    inner join sessions as s on s.session_index = sa.session_index + k.sessions_ahead
),
{% else %}
labelled_bars as (
    select symbol, session, open, bars_digest from {{ bars }}
),
{% endif %}

calendar as (
    select b.*, s1.session as next_session, s2.session as next2_session
    from labelled_bars as b
    inner join sessions as s0 on s0.session = b.session
    left join sessions as s1 on s1.session_index = s0.session_index + 1
    left join sessions as s2 on s2.session_index = s0.session_index + 2
),

-- Each series' bar and its own next bar; a link when that next bar is on the next session.
series_next as (
    select
        b.symbol,
        b.session,
        b.source,
        b.adjustment,
        b.history_version,
        {{ tradewind.source_rank('b.source') }}               as series_rank,
        s.session_index,
        b.open,
        lead(b.open) over by_series                          as lead_open,
        lead(b.session) over by_series                       as lead_session
    {%- if is_incremental() %}
    -- The labelled symbols' bars of those sessions: index scans per symbol, not a scan of all.
    from (select distinct symbol from labelled_bars) as y
    cross join lateral (
        select b.*
        from {{ ref('stg_bars_daily') }} as b
        where b.symbol = y.symbol and b.session = any(array(select session from read_sessions))
        offset 0
    ) as b
    {%- else %}
    from {{ ref('stg_bars_daily') }} as b
    {%- endif %}
    inner join sessions as s on s.session = b.session
    window by_series as (
        partition by b.symbol, b.source, b.adjustment, b.history_version order by b.session
    )
),

-- Per (symbol, T+1): the best series holding bars on T+1 and T+2.
links as (
    select distinct on (x.symbol, x.session)
        x.symbol,
        x.session          as next_session,
        x.source           as label_source,
        x.adjustment       as label_adjustment,
        x.history_version  as label_history_version,
        x.open             as next_open,
        x.lead_open        as next2_open
    from series_next as x
    inner join sessions as n on n.session_index = x.session_index + 1
    where x.lead_session = n.session
    order by x.symbol, x.session, x.series_rank, x.source
)

select
    c.symbol,
    c.session,
    c.open,
    c.next_session,
    l.next_open,
    c.next2_session,
    l.next2_open,
    ln(l.next2_open / l.next_open)    as fwd_open_lr,
    l.label_source,
    l.label_adjustment,
    l.label_history_version,
    c.bars_digest
from calendar as c
left join links as l on l.symbol = c.symbol and l.next_session = c.next_session
