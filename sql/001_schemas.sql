-- Schemas the warehouse owns outside dbt. dbt owns `features` (and its staging/intermediate schemas).
-- raw: bars and corporate actions as delivered by sources; ref: reference data (universes);
-- ops: ingestion bookkeeping and data-quality records; ml: training runs and the model registry;
-- signals: target weights; broker: orders, fills, positions and account snapshots.
create schema if not exists raw;
create schema if not exists ref;
create schema if not exists ops;
create schema if not exists ml;
create schema if not exists signals;
create schema if not exists broker;
