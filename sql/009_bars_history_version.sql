-- Vendor history version of a bar series (design: "Price series: one basis per return").
-- A series is (source, adjustment, history_version): when a vendor restates a symbol's adjusted
-- history, the re-pull replaces that (source, symbol)'s rows in one transaction and bumps the
-- version, so no return is ever computed between a bar of the old history and one of the new.
-- A constant default: PostgreSQL 11+ stores it in the catalog (no table rewrite), and
-- TimescaleDB accepts it on compressed hypertables.
alter table raw.bars_daily add column if not exists history_version integer not null default 1;
alter table raw.bars_minute add column if not exists history_version integer not null default 1;
