{#- Bucket a timestamptz into fixed-width bins aligned on 2000-01-03 00:00 UTC. TimescaleDB's
    time_bucket uses that origin for sub-month widths, so both branches give the same buckets. -#}
{% macro time_bucket(width, ts) -%}
    {{ return(adapter.dispatch('time_bucket', 'tradewind')(width, ts)) }}
{%- endmacro %}

{% macro default__time_bucket(width, ts) -%}
    {%- if tradewind.use_timescale() -%}
        time_bucket({{ width }}, {{ ts }})
    {%- else -%}
        date_bin({{ width }}, {{ ts }}, timestamptz '2000-01-03 00:00:00+00')
    {%- endif -%}
{%- endmacro %}

{#- var('timescale'): true/false forces it; "auto" asks the warehouse whether the extension is
    installed (the adapter is "postgres" either way, so dispatch alone cannot tell). -#}
{% macro use_timescale() -%}
    {%- set wanted = var('timescale', 'auto') | string | lower -%}
    {%- if wanted in ['true', 'false'] -%}
        {{ return(wanted == 'true') }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select count(*) from pg_catalog.pg_extension where extname = 'timescaledb'"
    ) -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}
