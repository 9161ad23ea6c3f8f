-- Broker records (Alpaca paper or the simulated broker). Orders are keyed by a deterministic
-- client order id derived from (account, as_of_session, model, symbol, side), so a retried
-- rebalance finds its earlier order instead of placing a second one.
create table if not exists broker.orders (
    client_order_id  text        primary key,
    broker           text        not null,
    account_id       text        not null,
    as_of_session    date        not null,
    symbol           text        not null,
    side             text        not null check (side in ('buy', 'sell')),
    qty              numeric,
    notional         numeric,
    order_type       text        not null default 'market',
    time_in_force    text        not null default 'day',
    status           text        not null,
    broker_order_id  text,
    filled_qty       numeric     not null default 0,
    filled_avg_price numeric,
    submitted_at     timestamptz,
    updated_at       timestamptz not null default now(),
    raw              jsonb,
    check (qty is not null or notional is not null)
);
create index if not exists orders_session on broker.orders (as_of_session);

create table if not exists broker.fills (
    fill_id          text        primary key,
    client_order_id  text        not null references broker.orders (client_order_id),
    symbol           text        not null,
    side             text        not null check (side in ('buy', 'sell')),
    qty              numeric     not null check (qty > 0),
    price            numeric     not null check (price > 0),
    filled_at        timestamptz not null
);

-- Grain: one row per (broker, account_id, session, symbol): positions as reconciled after a rebalance.
create table if not exists broker.positions (
    broker           text        not null,
    account_id       text        not null,
    session          date        not null,
    symbol           text        not null,
    qty              numeric     not null,
    avg_entry_price  numeric,
    market_value     numeric,
    taken_at         timestamptz not null default now(),
    primary key (broker, account_id, session, symbol)
);

-- Grain: one row per (broker, account_id, session).
create table if not exists broker.account_snapshots (
    broker        text        not null,
    account_id    text        not null,
    session       date        not null,
    cash          numeric     not null,
    equity        numeric     not null,
    buying_power  numeric,
    raw           jsonb,
    taken_at      timestamptz not null default now(),
    primary key (broker, account_id, session)
);
