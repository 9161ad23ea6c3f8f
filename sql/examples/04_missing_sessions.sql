-- Data quality: sessions a symbol has no bar for (gaps are explicit, never forward-filled).
select symbol, count(*) filter (where is_missing) as missing_sessions,
       min(session) filter (where is_missing) as first_missing,
       max(session) filter (where is_missing) as last_missing
from features_intermediate.int_daily_bars_calendar
group by symbol
having count(*) filter (where is_missing) > 0
order by missing_sessions desc;
