{#- Incremental int_daily_bars: which symbols' bars changed since the table was built, and from
    which session. Shared by the model (rows to recompute), its custom strategy (rows to delete)
    and its post_hook (the data tests' scope), through one temporary table that lives for the
    model's transaction. -#}

{% macro bar_scope_table() -%}
    tw_int_daily_bars_scope
{%- endmacro %}

{#- Hash of one source's bar of a (symbol, session), over every column int_daily_bars carries
    from it except ingested_at (a re-load of identical values is no change) and the source's
    rank under var source_priority (a new priority order is a change of every bar). -#}
{% macro bar_hash(alias) -%}
    hash_record_extended(row(
        {{ alias }}.session, {{ alias }}.source, {{ tradewind.source_rank(alias ~ '.source') }},
        {{ alias }}.adjustment, {{ alias }}.history_version, {{ alias }}.open, {{ alias }}.high,
        {{ alias }}.low, {{ alias }}.close, {{ alias }}.volume, {{ alias }}.vwap,
        {{ alias }}.trade_count
    ), 0)
{%- endmacro %}

{#- Both incremental paths compare a relation with its built copy in (symbol, calendar year)
    buckets: one digest per bucket first, then row by row only inside the buckets that differ.
    year_digests: the per-bucket digests, bit_xor of a row hash (order-free). only_if: an
    uncorrelated condition (PostgreSQL evaluates it once, as a one-time filter: when false the
    pass over the relation never runs), so the digest path is switched in the SQL itself, not
    in Jinja, and dbt's recorded SQL stays right whichever path a run takes. -#}
{% macro year_digests(relation, alias, row_hash, only_if='true') -%}
        select {{ alias }}.symbol, date_trunc('year', {{ alias }}.session)::date as year_start,
               bit_xor({{ row_hash }}) as digest
        from {{ relation }} as {{ alias }}
        where {{ only_if }}
        group by 1, 2
{%- endmacro %}

{#- The rows of ``relation`` (as ``alias``) inside the buckets (symbol, year_start) listed in
    ``buckets``: a lateral + offset 0 (not pulled up into a join), so one index range scan per
    differing bucket, whatever the planner guesses. -#}
{% macro rows_in_buckets(buckets, relation, alias) -%}
        from {{ buckets }} as k
        cross join lateral (
            select * from {{ relation }} as {{ alias }}
            where {{ alias }}.symbol = k.symbol
              and {{ alias }}.session >= k.year_start
              and {{ alias }}.session < (k.year_start + interval '1 year')::date
            offset 0
        ) as {{ alias }}
{%- endmacro %}

{#- The rows of ``relation`` (as ``alias``) at or after each listed symbol's from_session
    (``tails``: symbol, from_session): one index range scan per symbol, as in rows_in_buckets. -#}
{% macro rows_in_tails(tails, relation, alias) -%}
        from {{ tails }} as k
        cross join lateral (
            select * from {{ relation }} as {{ alias }}
            where {{ alias }}.symbol = k.symbol and {{ alias }}.session >= k.from_session
            offset 0
        ) as {{ alias }}
{%- endmacro %}

{#- The distinct values of ``column`` in ``relation``, one index probe each (a loose index scan):
    the body of the recursive CTE named ``cte`` (its query needs `with recursive`); the last row
    is null. -#}
{% macro loose_index_scan(cte, relation, column) -%}
        select min(x.{{ column }}) as {{ column }} from {{ relation }} as x
        union all
        select (select min(x.{{ column }}) from {{ relation }} as x where x.{{ column }} > d.{{ column }})
        from {{ cte }} as d
        where d.{{ column }} is not null
{%- endmacro %}

{#- pre_hook of int_daily_bars. On an incremental run, the scope table (symbol, from_session):
    every row of the symbol at or after from_session is recomputed. A symbol is in scope when
    any of its bars was added, changed or deleted (from the first such session on: bar_index,
    prev_session and gap_sessions of every later bar can change), or when the calendar
    renumbered its sessions (a session added or removed before its last bar: all of it, from
    '-infinity'). What changed comes from ops.bar_changes since the watermark (macro
    logged_bar_changes: a few index probes) when the log is trusted, else from the digests: one
    pass over the raw bars and one over this table, aggregated per (symbol, year), then bar by
    bar inside the (symbol, year) buckets whose digests differ. Either way the watermark moves
    to this run's snapshot, in its transaction. -#}
{% macro create_bar_scope(stg, sessions) -%}
    {%- set fingerprint = tradewind.bar_fingerprint(sessions) -%}
    {%- if is_incremental() -%}
    {%- set digests = 'not (select trusted from ' ~ tradewind.log_state_table() ~ ')' -%}
    {{ tradewind.create_log_state('ops.bar_changes', 'true', 'ops.bar_capture_intact()', fingerprint) }};
    create temporary table {{ tradewind.bar_scope_table() }} on commit drop as
    with recursive logged as (
        {{ tradewind.logged_bar_changes() }}
    ),
    current_buckets as (
        {{ tradewind.year_digests(stg, 'b', tradewind.bar_hash('b'), digests) }}
    ),
    built_buckets as (
        {{ tradewind.year_digests(this, 't', 't.bars_digest', digests) }}
    ),
    changed_buckets as (
        select coalesce(c.symbol, o.symbol) as symbol, coalesce(c.year_start, o.year_start) as year_start
        from current_buckets as c
        full outer join built_buckets as o on o.symbol = c.symbol and o.year_start = c.year_start
        where c.digest is distinct from o.digest
    ),
    current_bars as (
        select b.symbol, b.session, bit_xor({{ tradewind.bar_hash('b') }}) as digest
        {{ tradewind.rows_in_buckets('changed_buckets', stg, 'b') }}
        group by 1, 2
    ),
    built_bars as (
        select t.symbol, t.session, t.bars_digest as digest
        {{ tradewind.rows_in_buckets('changed_buckets', this, 't') }}
    ),
    changed as (
        select coalesce(c.symbol, o.symbol) as symbol, coalesce(c.session, o.session) as session
        from current_bars as c
        full outer join built_bars as o on o.symbol = c.symbol and o.session = c.session
        where c.digest is distinct from o.digest
    ),
    -- The symbols of this table, one index probe each (a loose index scan).
    built_symbols as (
        {{ tradewind.loose_index_scan('built_symbols', this, 'symbol') }}
    ),
    -- The symbol's last built bar carries the session_index every earlier one was numbered
    -- against: if the calendar numbers that session otherwise now, a session was added or
    -- removed before it.
    renumbered as (
        select l.symbol, '-infinity'::date as session
        from built_symbols as s
        cross join lateral (
            select t.symbol, t.session, t.session_index
            from {{ this }} as t
            where t.symbol = s.symbol
            order by t.session desc
            limit 1
        ) as l
        left join {{ sessions }} as c on c.session = l.session
        where c.session_index is distinct from l.session_index
    )
    select symbol, min(session) as from_session
    from (
        select * from logged union all select * from changed union all select * from renumbered
    ) as x
    group by symbol;
    analyze {{ tradewind.bar_scope_table() }};
    {{ tradewind.set_watermark('ops.bar_changes', fingerprint) }};
    {{ tradewind.prune_log('ops.bar_changes') }}
    {%- else -%}
    {{ tradewind.set_watermark('ops.bar_changes', fingerprint) }}
    {%- endif -%}
{%- endmacro %}

{#- Custom incremental strategy (incremental_strategy='symbol_tails'): replace every row of a
    scoped symbol at or after its from_session with the model's rows (which are exactly those
    rows, recomputed). Deleted bars go with the delete; nothing outside the scope is touched. -#}
{% macro get_incremental_symbol_tails_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    -- By row address, found by an index range scan per scoped symbol (a join on the range was
    -- planned as a scan of the whole table).
    delete from {{ target }} as t
    where t.ctid = any(array(
        select x.ctid
        from {{ tradewind.bar_scope_table() }} as s
        cross join lateral (
            select x.ctid from {{ target }} as x
            where x.symbol = s.symbol and x.session >= s.from_session
            offset 0
        ) as x
    ));
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}

{#- post_hook of an incremental run: when the runner scoped this build's data tests
    (ops.feature_test_scope, set from the newest ingested bars), widen the scope to two sessions
    before the earliest bar this run found changed or deleted (labels read T+1 and T+2), which
    ingested_at alone cannot show (a deleted bar has none; an update in place keeps its own). -#}
{% macro widen_test_scope(sessions) -%}
    {%- if is_incremental() -%}
    update ops.feature_test_scope
    set tests_from = coalesce((
            select s.session from {{ sessions }} as s
            where s.session < f.first_session
            order by s.session desc offset 1 limit 1
        ), '-infinity'), set_at = now()
    from (select min(from_session) as first_session from {{ tradewind.bar_scope_table() }}) as f
    where tests_from > '-infinity' and f.first_session is not null
      and coalesce((
            select s.session from {{ sessions }} as s
            where s.session < f.first_session
            order by s.session desc offset 1 limit 1
        ), '-infinity') < tests_from
    {%- endif -%}
{%- endmacro %}

{#- The (symbol, session) keys whose int_daily_bars row differs from the copy an incremental
    mart was built from (new, changed or deleted), comparing `columns`: the marts' fallback when
    their change log cannot be trusted (create_changed_keys). Per-(symbol, year)
    digests first (one aggregate pass over each table), then row by row only in the buckets
    whose digests differ: a daily run compares ~100 rows, not every row of both tables. -#}
{% macro changed_keys(built, this_relation, columns, only_if='true') -%}
    {%- set ns = namespace(h=[], b=[], t=[]) -%}
    {%- for c in columns -%}
        {%- set ns.h = ns.h + ['x.' ~ c] -%}{%- set ns.b = ns.b + ['b.' ~ c] -%}{%- set ns.t = ns.t + ['t.' ~ c] -%}
    {%- endfor -%}
    {%- set row_hash = "hash_record_extended(row(x.session, " ~ (ns.h | join(', ')) ~ "), 0)" %}
    with built_buckets as (
        {{ tradewind.year_digests(built, 'x', row_hash, only_if) }}
    ),
    this_buckets as (
        {{ tradewind.year_digests(this_relation, 'x', row_hash, only_if) }}
    ),
    buckets as (
        select coalesce(n.symbol, o.symbol) as symbol,
               coalesce(n.year_start, o.year_start) as year_start
        from built_buckets as n
        full outer join this_buckets as o on o.symbol = n.symbol and o.year_start = n.year_start
        where n.digest is distinct from o.digest
    ),
    built_rows as (
        select x.*
        {{ tradewind.rows_in_buckets('buckets', built, 'x') }}
    ),
    this_rows as (
        select x.*
        {{ tradewind.rows_in_buckets('buckets', this_relation, 'x') }}
    )
    select coalesce(b.symbol, t.symbol) as symbol, coalesce(b.session, t.session) as session
    from built_rows as b
    full outer join this_rows as t on t.symbol = b.symbol and t.session = b.session
    where b.symbol is null or t.symbol is null
        or ({{ ns.b | join(', ') }}) is distinct from ({{ ns.t | join(', ') }})
{%- endmacro %}

{#- pre_hook of an incremental mart: its changed keys into a temporary table for the model's
    transaction, analyzed, so the planner sizes the rest of the run by the rows that really
    changed (inline, it estimated a large share of all rows and chose full scans and nested
    loops over every bar: 30 s instead of 1). int_daily_bars can differ from the copy this
    table was built from only inside the tails it rewrote since (ops.feature_changes after this
    model's watermark): when that log is trusted, only those tails are compared row by row
    (index range scans per symbol), else the whole tables (macro changed_keys). -#}
{% macro changed_keys_table() -%}
    tw_changed_{{ this.identifier }}
{%- endmacro %}

{% macro create_changed_keys(built, columns) -%}
    {%- if is_incremental() -%}
    {%- set entries = "c.relation = '" ~ tradewind.log_key(built) ~ "'" -%}
    {%- set ns = namespace(b=[], t=[]) -%}
    {%- for c in columns -%}
        {%- set ns.b = ns.b + ['b.' ~ c] -%}{%- set ns.t = ns.t + ['t.' ~ c] -%}
    {%- endfor -%}
    {{ tradewind.create_log_state('ops.feature_changes', entries, 'true', 'null') }};
    create temporary table {{ tradewind.changed_keys_table() }} on commit drop as
    with tails as (
        select c.symbol, min(c.from_session) as from_session
        from {{ tradewind.log_state_table() }} as l
        inner join ops.feature_changes as c on {{ tradewind.after_watermark('c.xid', 'l.since') }}
        where l.trusted and {{ entries }} and c.symbol is not null
        group by c.symbol
    ),
    built_rows as (
        select x.*
        {{ tradewind.rows_in_tails('tails', built, 'x') }}
    ),
    this_rows as (
        select x.*
        {{ tradewind.rows_in_tails('tails', this, 'x') }}
    ),
    digests as (
        {{ tradewind.changed_keys(built, this, columns,
                                  'not (select trusted from ' ~ tradewind.log_state_table() ~ ')') }}
    )
    select coalesce(b.symbol, t.symbol) as symbol, coalesce(b.session, t.session) as session
    from built_rows as b
    full outer join this_rows as t on t.symbol = b.symbol and t.session = b.session
    where b.symbol is null or t.symbol is null
        or ({{ ns.b | join(', ') }}) is distinct from ({{ ns.t | join(', ') }})
    union all
    select symbol, session from digests;
    analyze {{ tradewind.changed_keys_table() }};
    {{ tradewind.set_watermark('ops.feature_changes', 'null') }};
    {{ tradewind.prune_log('ops.feature_changes') }}
    {%- else -%}
    {{ tradewind.set_watermark('ops.feature_changes', 'null') }}
    {%- endif -%}
{%- endmacro %}

{#- Custom incremental strategy (incremental_strategy='session_rows') of the marts keyed on
    session: dbt's delete+insert, with the new rows analyzed first. Unanalyzed, the planner
    guessed 200 sessions and deleted through a scan of the whole mart rather than its session
    index (~0.2 s a run for the ~3 sessions of a daily build). -#}
{% macro get_incremental_session_rows_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    analyze {{ source }};
    delete from {{ target }} as t
    where t.session in (select s.session from {{ source }} as s);
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}
