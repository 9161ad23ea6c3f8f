{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'session'], 'unique': true}],
) }}
-- Daily bars rebuilt from the preferred 1-minute series, regular hours only (the NYSE open to
-- close of the session, early closes included). Grain: (symbol, session); bucket = market open.
{{ tradewind.minute_rollup(
    's.market_open',
    extra_join="inner join " ~ ref('int_sessions') ~ " as s on s.session = m.session",
    extra_where="and m.ts >= s.market_open and m.ts < s.market_close",
) }}
