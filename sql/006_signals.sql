-- Target weights computed at the end of session `as_of_session` (T), traded at the open of T+1.
-- Grain: one row per (as_of_session, model_name, model_version, symbol). Cash is 1 - sum(weight).
create table if not exists signals.target_weights (
    as_of_session  date             not null,
    model_name     text             not null,
    model_version  integer          not null,
    symbol         text             not null,
    weight         double precision not null,
    created_at     timestamptz      not null default now(),
    primary key (as_of_session, model_name, model_version, symbol),
    -- NaN sorts above +Infinity in PostgreSQL, so this also rejects NaN.
    constraint target_weights_finite check (weight > '-Infinity' and weight < 'Infinity')
);
