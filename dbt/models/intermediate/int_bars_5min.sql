{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'bucket'], 'unique': true}, {'columns': ['session']}],
) }}
-- 5min bars from the preferred 1-minute series. Grain: (symbol, bucket); bucket = opening
-- instant (UTC) of the '5 minutes' bin. Regular-session minutes only, like the daily and hourly
-- rollups; var minute_extended_hours: true adds the pre- and post-market minutes. Changing it
-- (or upgrading from the rollup that kept extended hours) needs `dbt run --full-refresh -s
-- int_bars_5min`.
{{ tradewind.minute_rollup(
    tradewind.time_bucket("interval '5 minutes'", 'm.ts'),
    extra_where=("" if var('minute_extended_hours', false) else "and m.regular_session"),
) }}
