-- The current vendor history version of each loaded series (issue 9, item 2). A restatement
-- re-pull replaces a (source, symbol)'s bars and bumps this in the same transaction; every bar a
-- later load adds to the series is stamped with it (raw.bars_*.history_version, migration 009),
-- so returns are never computed across the old and the new history.
alter table ops.ingest_watermarks
    add column if not exists history_version integer not null default 1;
alter table ops.ingest_watermarks
    add column if not exists restated_at timestamptz;
