{#- Bucket a timestamptz into fixed-width bins aligned on `origin` (default 2000-01-03 00:00 UTC,
    TimescaleDB's own origin for sub-month widths), so both branches give the same buckets.
    Hourly bars pass origin 14:30 UTC: New York is a whole number of hours from UTC, so hours
    then start at the 09:30 open all year. -#}
{% macro time_bucket(width, ts, origin=none) -%}
    {{ return(adapter.dispatch('time_bucket', 'tradewind')(width, ts, origin)) }}
{%- endmacro %}

{% macro default__time_bucket(width, ts, origin=none) -%}
    {%- if tradewind.use_timescale() -%}
        {%- if origin is none -%}
        time_bucket({{ width }}, {{ ts }})
        {%- else -%}
        time_bucket({{ width }}, {{ ts }}, origin => {{ origin }})
        {%- endif -%}
    {%- else -%}
        date_bin({{ width }}, {{ ts }}, {{ origin if origin is not none else "timestamptz '2000-01-03 00:00:00+00'" }})
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
