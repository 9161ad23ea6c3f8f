-- Regular-session minutes and hourly bars aligned to the New York open (issue 9, item 5).
-- Alpaca's minute bars include pre- and post-market minutes. raw.is_regular_minute(ts) says
-- whether a bar opens within the NYSE regular session of its New York day: 09:30 to the close,
-- 16:00 or the early close of a half day. The early closes below are tradewind.calendar's
-- (exchange-calendars XNYS, 1990-2028), written out so the function is immutable (usable in a
-- continuous aggregate); tests/timescale/test_minute_sessions.py holds them equal to it.
-- Holidays need no entry: there are no bars on a day without a session.
create or replace function raw.nyse_close_time(d date) returns time
    language sql immutable parallel safe
    as $$
    select case
        when d = any('{
        1993-11-26,1994-11-25,1995-07-03,1995-11-24,1996-07-05,1996-11-29,
        1996-12-24,1997-07-03,1997-11-28,1997-12-24,1997-12-26,1998-11-27,
        1998-12-24,1999-11-26,1999-12-31,2000-07-03,2000-11-24,2001-07-03,
        2001-11-23,2001-12-24,2002-07-05,2002-11-29,2002-12-24,2003-07-03,
        2003-11-28,2003-12-24,2003-12-26,2004-11-26,2005-11-25,2006-07-03,
        2006-11-24,2007-07-03,2007-11-23,2007-12-24,2008-07-03,2008-11-28,
        2008-12-24,2009-11-27,2009-12-24,2010-11-26,2011-11-25,2012-07-03,
        2012-11-23,2012-12-24,2013-07-03,2013-11-29,2013-12-24,2014-07-03,
        2014-11-28,2014-12-24,2015-11-27,2015-12-24,2016-11-25,2017-07-03,
        2017-11-24,2018-07-03,2018-11-23,2018-12-24,2019-07-03,2019-11-29,
        2019-12-24,2020-11-27,2020-12-24,2021-11-26,2022-11-25,2023-07-03,
        2023-11-24,2024-07-03,2024-11-29,2024-12-24,2025-07-03,2025-11-28,
        2025-12-24,2026-11-27,2026-12-24,2027-11-26,2028-07-03,2028-11-24
    }'::date[]) then time '13:00'
        when d = any('{
        1990-12-24,1991-12-24,1992-11-27,1992-12-24
    }'::date[]) then time '14:00'
        else time '16:00'
    end
    $$;

create or replace function raw.is_regular_minute(ts timestamptz) returns boolean
    language sql immutable parallel safe
    as $$
    select (ts at time zone 'America/New_York')::time >= time '09:30'
       and (ts at time zone 'America/New_York')::time
           < raw.nyse_close_time((ts at time zone 'America/New_York')::date)
    $$;

-- raw.bars_hourly (plain PostgreSQL; on TimescaleDB the continuous aggregate of
-- 018_minute_sessions.timescale.sql replaces it): regular-session minutes only, in buckets that
-- start at 09:30 New York (xx:30 UTC in both EST and EDT, so a fixed origin at 14:30 UTC), the
-- last one of a session cut at the close. Same columns as before.
do $$
begin
    if to_regclass('_timescaledb_catalog.continuous_agg') is not null then
        if exists (select 1 from _timescaledb_catalog.continuous_agg
                   where user_view_schema = 'raw' and user_view_name = 'bars_hourly') then
            return;  -- TimescaleDB: 018_minute_sessions.timescale.sql rebuilds the aggregate
        end if;
    end if;
    execute $v$
    create or replace view raw.bars_hourly as
    select
        source,
        symbol,
        date_bin(interval '1 hour', ts, timestamptz '2000-01-03 14:30:00+00')  as bucket,
        (array_agg(open order by ts))[1]                                    as open,
        max(high)                                                           as high,
        min(low)                                                            as low,
        (array_agg(close order by ts desc))[1]                              as close,
        sum(volume)                                                         as volume,
        sum(vwap * volume) / nullif(sum(volume), 0)                         as vwap,
        sum(trade_count)                                                    as trade_count,
        count(*)                                                            as minutes
    from raw.bars_minute
    where raw.is_regular_minute(ts)
    group by source, symbol, date_bin(interval '1 hour', ts, timestamptz '2000-01-03 14:30:00+00')
    $v$;
end
$$;
