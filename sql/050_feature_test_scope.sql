-- Which sessions the dbt data tests read (issue 9: a one-session incremental build within 3 s).
-- An incremental `tradewind features build` rewrites only sessions at or after the earliest new
-- or changed bar (every feature window looks back, never ahead; a label reads T+1 and T+2), so
-- it sets tests_from to two sessions before that bar and the session-keyed tests read only those
-- sessions (dbt_project.yml `where`). Kept in the warehouse rather than passed as a dbt var: a
-- var that changes every day makes dbt re-parse the whole project on every run (measured ~10 s).
-- Any build that does not set it (full builds, plain `dbt build`, cosmos) tests all history:
-- the runner puts '-infinity' back when its build ends.
create table if not exists ops.feature_test_scope (
    only_row   boolean primary key default true check (only_row),
    tests_from date not null default '-infinity',
    set_at     timestamptz not null default now()
);
insert into ops.feature_test_scope default values on conflict do nothing;
