-- Daily bars dated on a day the NYSE calendar (the seed) calls closed. They are kept, and the
-- date joins the calendar, but it usually means a mis-stamped feed: warn.
{{ config(severity='warn') }}
with seed_range as (
    select min(session) as first_session, max(session) as last_session
    from {{ ref('nyse_sessions') }}
)
select s.session
from {{ ref('int_sessions') }} as s
cross join seed_range as r
where not s.is_nyse_session
  and s.session between r.first_session and r.last_session
