{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'bucket'], 'unique': true}, {'columns': ['session']}],
) }}
-- hourly bars from the preferred 1-minute series, all hours the feed delivers (extended hours
-- included). Grain: (symbol, bucket); bucket = opening instant (UTC) of the '1 hour' bin.
{{ tradewind.minute_rollup(tradewind.time_bucket("interval '1 hour'", 'm.ts')) }}
