-- Tolerant OHLC checks (design: "Quality checks compare prices with a relative tolerance").
-- Adjusted prices carry float rounding: a split- and dividend-adjusted close may exceed the
-- adjusted high in the 15th significant digit. The exact constraints of 002 refused such rows;
-- these allow a relative slack of raw.price_rel_tol() and nothing more. The value must equal
-- tradewind.ingest.quality.PRICE_REL_TOL (a test holds them together): 1e-6 is far above float
-- rounding (1e-15) and vendors' 6-decimal rounding of adjusted prices, and far below a cent on
-- any listed price up to $10,000, so an open outside the day's range by cents is still refused.
-- Positivity stays exact: a zero low is a defect, not rounding.
create or replace function raw.price_rel_tol() returns double precision
    language sql immutable parallel safe
    as $$ select 1e-6::double precision $$;

-- true when low <= open, close <= high up to the relative tolerance (null inputs: null, which a
-- CHECK accepts; the not-null constraints refuse those).
create or replace function raw.ohlc_consistent(
    open double precision, high double precision, low double precision, close double precision
) returns boolean
    language sql immutable parallel safe
    as $$
        select low <= least(open, close) * (1 + raw.price_rel_tol())
           and high >= greatest(open, close) * (1 - raw.price_rel_tol())
           and high >= low * (1 - raw.price_rel_tol())
    $$;

alter table raw.bars_daily drop constraint if exists bars_daily_ohlc;
alter table raw.bars_daily
    add constraint bars_daily_ohlc check (raw.ohlc_consistent(open, high, low, close));
alter table raw.bars_minute drop constraint if exists bars_minute_ohlc;
alter table raw.bars_minute
    add constraint bars_minute_ohlc check (raw.ohlc_consistent(open, high, low, close));
