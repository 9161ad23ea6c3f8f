-- Raw bars. Grain: one row per (source, symbol, session) for daily bars, per (source, symbol, ts)
-- for minute bars. Prices in the quote currency (USD); volume in shares (double precision because
-- adjusted volumes are fractional); `session` is the NYSE session date in America/New_York;
-- `ts` is the bar's opening instant in UTC. On TimescaleDB these become hypertables (002 timescale).
create table if not exists raw.bars_daily (
    source       text             not null,
    symbol       text             not null,
    session      date             not null,
    open         double precision not null,
    high         double precision not null,
    low          double precision not null,
    close        double precision not null,
    volume       double precision not null,
    vwap         double precision,
    trade_count  bigint,
    adjustment   text             not null default 'raw',
    ingested_at  timestamptz      not null default now(),
    run_id       bigint,
    primary key (source, symbol, session),
    constraint bars_daily_prices_positive check (open > 0 and high > 0 and low > 0 and close > 0),
    constraint bars_daily_ohlc check (low <= least(open, close) and high >= greatest(open, close)),
    constraint bars_daily_volume check (volume >= 0)
);
create index if not exists bars_daily_symbol_session on raw.bars_daily (symbol, session);

create table if not exists raw.bars_minute (
    source       text             not null,
    symbol       text             not null,
    ts           timestamptz      not null,
    open         double precision not null,
    high         double precision not null,
    low          double precision not null,
    close        double precision not null,
    volume       double precision not null,
    vwap         double precision,
    trade_count  bigint,
    adjustment   text             not null default 'raw',
    ingested_at  timestamptz      not null default now(),
    run_id       bigint,
    primary key (source, symbol, ts),
    constraint bars_minute_prices_positive check (open > 0 and high > 0 and low > 0 and close > 0),
    constraint bars_minute_ohlc check (low <= least(open, close) and high >= greatest(open, close)),
    constraint bars_minute_volume check (volume >= 0)
);
create index if not exists bars_minute_symbol_ts on raw.bars_minute (symbol, ts);

-- Corporate actions where a source provides them (Quandl WIKI `ex-dividend`, `split_ratio`).
-- Grain: one row per (source, symbol, ex_date, action). value = cash per share for dividends,
-- new/old shares for splits (WIKI split_ratio 2.0 = 2-for-1).
create table if not exists raw.corporate_actions (
    source       text             not null,
    symbol       text             not null,
    ex_date      date             not null,
    action       text             not null check (action in ('cash_dividend', 'split')),
    value        double precision not null,
    ingested_at  timestamptz      not null default now(),
    run_id       bigint,
    primary key (source, symbol, ex_date, action)
);
