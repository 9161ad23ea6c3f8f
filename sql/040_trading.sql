-- Rebalancing records (issue 12): what each run saw, planned and decided, the reconciliation
-- after the fills, and the simulated broker's own book. broker.orders stays the record of what
-- was sent, keyed by the deterministic client order id.
alter table broker.orders add column if not exists model_name text;
alter table broker.orders add column if not exists model_version integer;
alter table broker.orders add column if not exists run_id bigint;
alter table broker.orders add column if not exists message text;

-- Grain: one row per rebalance attempt (dry runs and refused runs included).
create table if not exists broker.rebalance_runs (
    run_id         bigserial   primary key,
    broker         text        not null,
    account_id     text,
    as_of_session  date        not null,
    model_name     text,
    model_version  integer,
    dry_run        boolean     not null,
    status         text        not null check (status in
                       ('running', 'dry_run', 'refused', 'submitted', 'partial', 'failed')),
    message        text,
    equity         numeric,
    cash           numeric,
    orders_planned integer     not null default 0,
    orders_sent    integer     not null default 0,
    orders_found   integer     not null default 0,
    started_at     timestamptz not null default now(),
    finished_at    timestamptz
);
create index if not exists rebalance_runs_session on broker.rebalance_runs (as_of_session);

-- Grain: one row per (run, symbol): the plan line a person audits.
create table if not exists broker.plan_lines (
    run_id          bigint           not null references broker.rebalance_runs (run_id),
    symbol          text             not null,
    price           double precision,
    current_qty     double precision not null,
    current_weight  double precision not null,
    target_weight   double precision not null,
    side            text check (side in ('buy', 'sell')),
    qty             double precision,
    time_in_force   text,
    client_order_id text,
    note            text,
    primary key (run_id, symbol)
);

-- Grain: one row per (broker, account_id, as_of_session): the latest reconciliation report.
create table if not exists broker.reconciliations (
    broker         text        not null,
    account_id     text        not null,
    as_of_session  date        not null,
    fill_session   date        not null,
    report         jsonb       not null,
    created_at     timestamptz not null default now(),
    primary key (broker, account_id, as_of_session)
);

-- The simulated broker's state (its "server side"): cash and positions of each account ...
create table if not exists broker.sim_accounts (
    account_id  text        primary key,
    cash        double precision not null,
    positions   jsonb       not null default '{}'::jsonb,
    updated_at  timestamptz not null default now()
);

-- ... and its order book, keyed like Alpaca's by the client order id.
create table if not exists broker.sim_orders (
    client_order_id  text        primary key,
    account_id       text        not null references broker.sim_accounts (account_id),
    broker_order_id  text        not null unique,
    as_of_session    date        not null,
    symbol           text        not null,
    side             text        not null check (side in ('buy', 'sell')),
    qty              double precision not null check (qty > 0),
    time_in_force    text        not null,
    status           text        not null,
    filled_qty       double precision not null default 0,
    filled_avg_price double precision,
    fee              double precision not null default 0,
    filled_session   date,
    submitted_at     timestamptz not null default now()
);
