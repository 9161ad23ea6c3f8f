-- One row per ingest run (any source, any timeframe).
create table if not exists ops.ingest_runs (
    run_id            bigserial primary key,
    source            text        not null,
    timeframe         text        not null,
    params            jsonb       not null default '{}',
    status            text        not null default 'running'
                      check (status in ('running', 'succeeded', 'failed', 'rejected')),
    started_at        timestamptz not null default now(),
    finished_at       timestamptz,
    rows_in           bigint      not null default 0,
    rows_new          bigint      not null default 0,
    rows_updated      bigint      not null default 0,
    rows_unchanged    bigint      not null default 0,
    rows_quarantined  bigint      not null default 0,
    rows_warned       bigint      not null default 0,
    message           text
);

-- What is loaded up to when, per source, symbol and timeframe. Updated in the same transaction
-- as the bars it describes, so it never claims data that is not there.
create table if not exists ops.ingest_watermarks (
    source       text        not null,
    symbol       text        not null,
    timeframe    text        not null,
    first_time   timestamptz not null,
    last_time    timestamptz not null,
    rows_loaded  bigint      not null default 0,
    last_run_id  bigint references ops.ingest_runs (run_id),
    updated_at   timestamptz not null default now(),
    primary key (source, symbol, timeframe)
);

-- Rows the data-quality gate refused, with every reason. They never reach raw.bars_*.
create table if not exists ops.quarantine (
    id             bigserial primary key,
    run_id         bigint references ops.ingest_runs (run_id),
    source         text        not null,
    timeframe      text        not null,
    symbol         text,
    bar_time       text,
    reasons        text[]      not null,
    payload        jsonb       not null,
    quarantined_at timestamptz not null default now()
);
create index if not exists quarantine_run on ops.quarantine (run_id);

-- Non-fatal findings (zero volume, large jumps): recorded, the row is still loaded.
create table if not exists ops.data_warnings (
    id         bigserial primary key,
    run_id     bigint references ops.ingest_runs (run_id),
    source     text        not null,
    timeframe  text        not null,
    symbol     text        not null,
    bar_time   text        not null,
    kind       text        not null,
    detail     text,
    noted_at   timestamptz not null default now()
);
create index if not exists data_warnings_run on ops.data_warnings (run_id);
