-- TimescaleDB: bars as hypertables with compression. Runs after 002_raw_bars.sql, on empty tables
-- (migrate_data keeps it safe on tables that already hold rows).
select create_hypertable('raw.bars_daily', by_range('session', interval '1 year'),
                         if_not_exists => true, migrate_data => true);
select create_hypertable('raw.bars_minute', by_range('ts', interval '7 days'),
                         if_not_exists => true, migrate_data => true);

-- Segment by series so a compressed chunk still answers per-symbol queries quickly; daily bars
-- are corrected rarely after a year, minute bars after a month.
alter table raw.bars_daily set (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'source, symbol',
    timescaledb.compress_orderby = 'session'
);
alter table raw.bars_minute set (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'source, symbol',
    timescaledb.compress_orderby = 'ts'
);
select add_compression_policy('raw.bars_daily', interval '365 days', if_not_exists => true);
select add_compression_policy('raw.bars_minute', interval '30 days', if_not_exists => true);
