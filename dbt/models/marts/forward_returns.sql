{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'session'], 'unique': true}, {'columns': ['session']}],
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
changed or deleted bar of session d (any series: bars_digest) rewrites the sessions d, d-1 and
d-2 (calendar), whole. Rows whose stored T+1/T+2 no longer match the calendar are rewritten too.
-#}
{#- Bars are read from the table itself each time (not a shared CTE, which PostgreSQL would
    materialize without its index) so looking up T+1 and T+2 stays an index or hash join. -#}
{%- set bars = ref('int_daily_bars') %}
{%- set series = ref('int_series_bars') %}
with sessions as (
    select session, session_index
    from {{ ref('int_sessions') }}
),

{% if is_incremental() %}
changed as (
    select coalesce(b.session, t.session) as session
    from {{ bars }} as b
    full outer join {{ this }} as t on t.symbol = b.symbol and t.session = b.session
    where b.symbol is null or t.symbol is null or b.bars_digest is distinct from t.bars_digest
    union
    select t.session
    from {{ this }} as t
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

labelled_bars as (
    select b.symbol, b.session, b.open, b.bars_digest
    from {{ bars }} as b
    inner join affected_sessions as a on a.session = b.session
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

-- Series with a bar on both T+1 and T+2, best first.
pairs as (
    select distinct on (c.symbol, c.session)
        c.symbol,
        c.session,
        n1.source          as label_source,
        n1.adjustment      as label_adjustment,
        n1.history_version as label_history_version,
        n1.open            as next_open,
        n2.open            as next2_open
    from calendar as c
    inner join {{ series }} as n1 on n1.symbol = c.symbol and n1.session = c.next_session
    inner join {{ series }} as n2
        on n2.symbol = c.symbol
        and n2.session = c.next2_session
        and n2.source = n1.source
        and n2.adjustment = n1.adjustment
        and n2.history_version = n1.history_version
    order by c.symbol, c.session, n1.series_rank, n1.source
)

select
    c.symbol,
    c.session,
    c.open,
    c.next_session,
    p.next_open,
    c.next2_session,
    p.next2_open,
    ln(p.next2_open / p.next_open)    as fwd_open_lr,
    p.label_source,
    p.label_adjustment,
    p.label_history_version,
    c.bars_digest
from calendar as c
left join pairs as p on p.symbol = c.symbol and p.session = c.session
