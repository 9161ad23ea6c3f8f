-- The recorded plan of the daily incremental feature build (issue 9, item 10: a one-session
-- `tradewind features build` within 3 s; dbt's import and start-up alone take longer). A
-- successful incremental `dbt build` of everything is recorded as the SQL dbt sent, node by node
-- (tradewind.features.plan); later builds replay it with psycopg while its fingerprint (the dbt
-- project's files, dbt's versions, vars, profile target without the password, the shape of the
-- relations dbt builds, the timescaledb extension) still matches. Kept in the warehouse it was
-- recorded on: relation names carry the database name, and a plan must never follow a copy of
-- the project to another warehouse. One row: the daily build's plan. No secrets (dbt's SQL and
-- the hashes only).
create table if not exists ops.feature_build_plan (
    only_row    boolean primary key default true check (only_row),
    fingerprint text not null,
    recorded_at timestamptz not null default now(),
    dbt_version text not null,
    nodes       integer not null,
    plan        jsonb not null
);
