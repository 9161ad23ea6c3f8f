-- Evaluations, the promotion gate's decisions and the stage history of model versions.

-- One backtest of a model version (model_name, model_version) or of a baseline policy (policy,
-- e.g. '1/N') over one named window. eval_key is the identity of "the same evaluation": a re-run
-- replaces the row (same evaluation_id) and its daily rows instead of adding another.
create table if not exists ml.evaluations (
    evaluation_id  uuid        primary key,
    eval_key       text        not null unique,
    model_name     text,
    model_version  integer,
    policy         text,
    window_name    text        not null,
    start_session  date        not null,  -- first decision session evaluated
    end_session    date        not null,  -- last decision session evaluated
    symbols        text[]      not null,
    costs          jsonb       not null,  -- {"fixed_bps": 10.0, "slippage_coef": 0.0}
    sessions       integer     not null check (sessions > 0),
    metrics        jsonb       not null,  -- empyrical's names, plus turnover and hit_rate
    config         jsonb       not null default '{}',
    report_uri     text,
    created_at     timestamptz not null default now(),
    check (end_session >= start_session),
    check ((model_name is not null and model_version is not null and policy is null)
        or (model_name is null and model_version is null and policy is not null)),
    foreign key (model_name, model_version)
        references ml.model_versions (model_name, version) on delete cascade
);
create index if not exists evaluations_model on ml.evaluations (model_name, model_version);

-- Grain: one row per evaluation and decision session T. net_return = V_{T+1}/V_T - 1: weights
-- decided at the end of T, traded at open(T+1), held to open(T+2), net of the cost c_T.
create table if not exists ml.evaluation_daily (
    evaluation_id  uuid             not null references ml.evaluations on delete cascade,
    session        date             not null,
    net_return     double precision not null,
    turnover       double precision not null,
    cost           double precision not null,
    primary key (evaluation_id, session)
);

-- Every gate run, promoted or refused, with the numbers it compared and why.
create table if not exists ml.gate_decisions (
    decision_id         bigserial   primary key,
    model_name          text        not null,
    version             integer     not null,
    decision            text        not null check (decision in ('promoted', 'refused')),
    reason              text        not null,
    metric              text        not null,
    window_name         text        not null,
    candidate_value     double precision,
    production_version  integer,
    production_value    double precision,
    baseline_value      double precision,
    margins             jsonb       not null,
    decided_at          timestamptz not null default now(),
    foreign key (model_name, version)
        references ml.model_versions (model_name, version) on delete cascade
);
create index if not exists gate_decisions_model on ml.gate_decisions (model_name, version);

-- Who moved a version to which stage, and why (the gate, a manual promote, an archive).
create table if not exists ml.model_stage_changes (
    change_id    bigserial   primary key,
    model_name   text        not null,
    version      integer     not null,
    from_stage   text,
    to_stage     text        not null check (to_stage in ('candidate', 'production', 'archived')),
    changed_by   text        not null,
    reason       text        not null,
    changed_at   timestamptz not null default now(),
    foreign key (model_name, version)
        references ml.model_versions (model_name, version) on delete cascade
);

-- A training run becomes at most one version (registering it twice returns the same one).
create unique index if not exists model_versions_one_per_run
    on ml.model_versions (run_id) where run_id is not null;
