-- Signal generation records (issue 11). Grain: one row per (run, model, model_version, session):
-- every session a `tradewind signals generate` run was asked for, written or refused, so the
-- dashboard and the data-quality report can show signals that were late or missing.
create table if not exists signals.generations (
    generation_id    bigserial   primary key,
    run_id           uuid        not null,
    model_name       text        not null,
    model_version    integer,                 -- null when the model could not be resolved
    kind             text        not null check (kind in ('model', 'ensemble')),
    as_of_session    date        not null,
    status           text        not null check (status in ('written', 'unchanged', 'refused')),
    message          text,                    -- the refusal line, or what was reported
    mode             text        not null check (mode in ('session', 'backfill')),
    sessions_in_run  integer     not null default 1,
    -- Freshness: the newest feature session of the model's symbols at generation time, and how
    -- long after the close of as_of_session the weights were produced.
    features_through date,
    generated_at     timestamptz not null default now(),
    delay_seconds    double precision,
    elapsed_ms       double precision,        -- the whole run's time (a backfill shares it)
    n_symbols        integer,
    gross_weight     double precision,        -- sum |w| over the assets (cash = 1 - sum w)
    reported         jsonb       not null default '{}',  -- delisted / new members / ensemble members
    file_uri         text,
    file_sha256      text
);
create index if not exists generations_model_session
    on signals.generations (model_name, as_of_session);

-- Ensembles are written under their own model name; each distinct resolution of their members
-- (member versions and blend weights) is a version of its own, recorded here.
create table if not exists signals.ensemble_versions (
    ensemble_name  text        not null,
    version        integer     not null check (version > 0),
    rule           text        not null,
    members        jsonb       not null,       -- [{"model": ..., "version": ..., "weight": ...}]
    fingerprint    text        not null,       -- sha256 of rule + members: same blend, same version
    created_at     timestamptz not null default now(),
    primary key (ensemble_name, version),
    unique (ensemble_name, fingerprint)
);
