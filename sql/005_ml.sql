-- Training runs ("training sessions"): everything needed to reproduce and judge a run.
create table if not exists ml.training_runs (
    run_id        uuid        primary key,
    agent         text        not null,
    config        jsonb       not null,
    train_start   date        not null,
    train_end     date        not null,
    eval_start    date,
    eval_end      date,
    seed          bigint      not null,
    status        text        not null default 'running'
                  check (status in ('running', 'succeeded', 'failed', 'aborted')),
    metrics       jsonb       not null default '{}',
    artifact_uri  text,
    error         text,
    started_at    timestamptz not null default now(),
    finished_at   timestamptz,
    check (train_end >= train_start)
);

-- Model registry. Grain: one row per (model_name, version). At most one production version per model.
create table if not exists ml.model_versions (
    model_name    text        not null,
    version       integer     not null check (version > 0),
    run_id        uuid        references ml.training_runs (run_id),
    stage         text        not null default 'candidate'
                  check (stage in ('candidate', 'production', 'archived')),
    artifact_uri  text        not null,
    metrics       jsonb       not null default '{}',
    promotion_note text,
    created_at    timestamptz not null default now(),
    stage_changed_at timestamptz not null default now(),
    primary key (model_name, version)
);
create unique index if not exists model_versions_one_production
    on ml.model_versions (model_name) where stage = 'production';
