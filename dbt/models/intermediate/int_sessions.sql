{{ config(materialized='table', post_hook='analyze {{ this }}',
          indexes=[{'columns': ['session'], 'unique': true},
                   {'columns': ['session_index'], 'unique': true}]) }}
-- The session calendar. Grain: one row per session.
-- NYSE sessions from the seed (exchange_calendars XNYS, 1990-2030), plus any date that holds a
-- daily bar: outside the seed's range the data's own sessions are the calendar, and a bar on a
-- date the NYSE calendar calls closed is kept (and reported by a warning test) rather than lost.
-- session_index numbers sessions consecutively, so "k sessions later" is index + k.
with nyse as (
    select session, market_open, market_close
    from {{ ref('nyse_sessions') }}
),

data_sessions as (
    select distinct session
    from {{ ref('stg_bars_daily') }}
),

calendar as (
    select
        coalesce(n.session, d.session) as session,
        n.market_open,
        n.market_close,
        n.session is not null          as is_nyse_session
    from nyse as n
    full outer join data_sessions as d on d.session = n.session
)

select
    session,
    row_number() over (order by session) as session_index,
    market_open,
    market_close,
    is_nyse_session
from calendar
