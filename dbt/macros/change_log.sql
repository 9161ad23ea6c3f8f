{#- Change logs of the incremental feature build (migration 060): instead of hashing every bar
    to find what changed since the last build, a model reads the entries logged since its
    watermark. ops.bar_changes (raw.bars_daily's statement triggers) feeds int_daily_bars;
    ops.feature_changes (int_daily_bars' rewritten tails, its post_hook) feeds the marts.
    An entry is new to a model when its transaction is not visible in the model's stored
    snapshot (ops.feature_watermarks.seen, written in the model's own transaction: a failed
    build consumes nothing). Whenever the log cannot be trusted (no watermark, a null entry
    "anything may have changed", a snapshot from another server, a changed fingerprint, the
    capture not intact) the model takes the digest path instead, in the same SQL: every branch
    is switched by an uncorrelated condition PostgreSQL evaluates once. -#}

{% macro log_key(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}
{%- endmacro %}

{% macro log_state_table() -%}
    tw_log_{{ this.identifier }}
{%- endmacro %}

{#- Entry written by a transaction the snapshot `seen` does not show. The first condition only
    narrows the index range (every xid below the snapshot's xmin is visible in it). -#}
{% macro after_watermark(xid, seen) -%}
    ({{ xid }} >= pg_snapshot_xmin({{ seen }}) and not pg_visible_in_snapshot({{ xid }}, {{ seen }}))
{%- endmacro %}

{#- One row for the model's transaction: since (the stored watermark), seen_now (the snapshot
    this run consumes up to: taken before any of the run's reads, so whatever commits later is
    new to the next run) and trusted. `entries` is the log filtered to the model's input. A
    watermark whose xmax lies ahead of the server's own (a warehouse restored onto another
    server: its transaction ids mean nothing here) is not trusted. -#}
{% macro create_log_state(log_table, entries_where, trusted_if, fingerprint) -%}
    create temporary table {{ tradewind.log_state_table() }} on commit drop as
    select w.seen as since, pg_current_snapshot() as seen_now,
           coalesce(
               pg_snapshot_xmax(w.seen) <= pg_snapshot_xmax(pg_current_snapshot())
               and w.fingerprint is not distinct from {{ fingerprint }}
               and not exists (
                   select from {{ log_table }} as c
                   where c.symbol is null and {{ entries_where }}
                     and {{ tradewind.after_watermark('c.xid', 'w.seen') }}
               )
               and {{ trusted_if }},
               false) as trusted
    from (select) as one
    left join ops.feature_watermarks as w on w.model = '{{ tradewind.log_key(this) }}'
{%- endmacro %}

{#- The model's watermark, in its transaction: on an incremental run the snapshot of its log
    state, on a full build the snapshot before the build reads anything. -#}
{% macro set_watermark(log_table, fingerprint) -%}
    insert into ops.feature_watermarks as w (model, log, seen, fingerprint)
    select '{{ tradewind.log_key(this) }}', '{{ log_table }}',
        {% if is_incremental() %}(select seen_now from {{ tradewind.log_state_table() }}){% else %}pg_current_snapshot(){% endif %},
        {{ fingerprint }}
    on conflict (model) do update
        set log = excluded.log, seen = excluded.seen, fingerprint = excluded.fingerprint,
            set_at = now()
{%- endmacro %}

{#- What int_daily_bars depends on besides the bars: the source priority (a new order changes
    every symbol's preferred bars) and the calendar its sessions are numbered against (seed plus
    the data's own sessions; 10k rows). A change of either = no trust in the log: the digest
    path compares every bar (the priority rank included) and checks every symbol's numbering. -#}
{% macro bar_fingerprint(sessions) -%}
    md5({{ dbt.string_literal(tojson(var('source_priority'))) }} || coalesce((
        select bit_xor(hash_record_extended(row(n.session, n.session_index), 0))::text
        from {{ sessions }} as n), ''))
{%- endmacro %}

{#- int_daily_bars' scope from ops.bar_changes: per symbol, the earliest session logged since the
    watermark (empty unless trusted). -#}
{% macro logged_bar_changes() -%}
        select c.symbol, min(c.from_session) as session
        from {{ tradewind.log_state_table() }} as l
        inner join ops.bar_changes as c on {{ tradewind.after_watermark('c.xid', 'l.since') }}
        where l.trusted and c.symbol is not null
        group by c.symbol
{%- endmacro %}

{#- post_hook of int_daily_bars: what this run rewrote, for the marts (a full build: everything). -#}
{% macro log_rewritten_tails() -%}
    insert into ops.feature_changes (relation, symbol, from_session)
    {% if is_incremental() -%}
    select '{{ tradewind.log_key(this) }}', symbol, from_session from {{ tradewind.bar_scope_table() }}
    {%- else -%}
    values ('{{ tradewind.log_key(this) }}', null, null)
    {%- endif %}
{%- endmacro %}

{#- Entries every consumer of a log has consumed are not needed any more (pre_hook, after the
    watermark is set: undone with it if the build fails). -#}
{% macro prune_log(log_table) -%}
    delete from {{ log_table }}
    where xid < (select min(pg_snapshot_xmin(w.seen)) from ops.feature_watermarks as w
                 where w.log = '{{ log_table }}')
{%- endmacro %}
