{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'bucket'], 'unique': true}, {'columns': ['session']}],
) }}
-- Hourly bars from the preferred 1-minute series. Grain: (symbol, bucket); bucket = opening
-- instant (UTC) of an hour counted from the 09:30 New York open (09:30, 10:30, ..., the last one
-- cut at the close: 15:30-16:00, or 12:30-13:00 on a half day). Regular-session minutes only;
-- var minute_extended_hours: true adds the pre- and post-market minutes (same alignment).
-- Changing either (or upgrading from the UTC-hour buckets) needs `dbt run --full-refresh -s
-- int_bars_hourly`.
{{ tradewind.minute_rollup(
    tradewind.time_bucket("interval '1 hour'", 'm.ts', origin="timestamptz '2000-01-03 14:30:00+00'"),
    extra_where=("" if var('minute_extended_hours', false) else "and m.regular_session"),
) }}
