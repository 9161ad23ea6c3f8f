{#- OHLCV of the preferred one-minute bars grouped by symbol, session and `bucket_expr` (an
    expression over the minute bar `m` and whatever `extra_join` brings in).
    An incremental run recomputes, whole, each session holding a minute bar ingested after the
    newest one already rolled up (minus var minute_ingest_slack, for loads whose transactions
    overlap) and replaces its old rows (delete+insert on session). Deleted minute bars are not
    detected: rebuild with --full-refresh after deleting any. -#}
{% macro minute_rollup(bucket_expr, extra_join='', extra_where='') -%}
{#- Referenced outside the is_incremental() branch so dbt records the dependency at parse time. -#}
{%- set all_minutes = ref('stg_bars_minute') -%}
with minutes as (
    select m.*, {{ bucket_expr }} as bucket
    from {{ ref('int_minute_bars') }} as m
    {{ extra_join }}
    where true
    {{ extra_where }}
    {%- if is_incremental() %}
      and m.session in (
        select distinct session
        from {{ all_minutes }}
        where ingested_at > (
            select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }}
        ) - interval '{{ var("minute_ingest_slack") }}'
      )
    {%- endif %}
)

select
    symbol,
    session,
    bucket,
    min(source)                                        as source,
    (array_agg(open order by ts))[1]                   as open,
    max(high)                                          as high,
    min(low)                                           as low,
    (array_agg(close order by ts desc))[1]             as close,
    sum(volume)                                        as volume,
    sum(vwap * volume) / nullif(sum(volume), 0)        as vwap,
    sum(trade_count)                                   as trade_count,
    count(*)                                           as minutes,
    max(ingested_at)                                   as loaded_at
from minutes
group by symbol, session, bucket
{%- endmacro %}
