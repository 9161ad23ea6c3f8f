{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'bucket'], 'unique': true}, {'columns': ['session']}],
) }}
-- 5min bars from the preferred 1-minute series, all hours the feed delivers (extended hours
-- included). Grain: (symbol, bucket); bucket = opening instant (UTC) of the '5 minutes' bin.
{{ tradewind.minute_rollup(tradewind.time_bucket("interval '5 minutes'", 'm.ts')) }}
