-- Training runs, from start to end: what code and data a run used, where it stands, how long
-- it took. ml.training_runs (005) keeps its columns; these are added.
alter table ml.training_runs add column if not exists code_version text;      -- git rev, "+dirty"
alter table ml.training_runs add column if not exists data_fingerprint text;  -- sha256 of the arrays trained on
alter table ml.training_runs add column if not exists windows jsonb not null default '{}';  -- train/validation/test
alter table ml.training_runs add column if not exists timings jsonb not null default '{}';  -- seconds per stage
alter table ml.training_runs add column if not exists progress jsonb not null default '{}'; -- last iteration seen
alter table ml.training_runs add column if not exists updated_at timestamptz not null default now();
alter table ml.training_runs add column if not exists resumed_count integer not null default 0;
alter table ml.training_runs add column if not exists sweep_id text;           -- tradewind tune trials

create index if not exists training_runs_agent on ml.training_runs (agent, started_at desc);
create index if not exists training_runs_sweep on ml.training_runs (sweep_id) where sweep_id is not null;
