"""Migrations on a real PostgreSQL: order, idempotence, checksums, contracts."""

from __future__ import annotations

import math
import shutil

import psycopg
import pytest

from tradewind.db import WarehouseError
from tradewind.db.migrate import _split_statements, discover, migrate, schema_status
from tradewind.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"


def _schema_fingerprint(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(
            """
            select table_schema, table_name, column_name, data_type, is_nullable
            from information_schema.columns
            where table_schema in ('raw', 'ref', 'ops', 'ml', 'signals', 'broker')
            order by 1, 2, 3
            """
        ).fetchall()


def test_discover_orders_plain_before_timescale():
    ids = [m.id for m in discover(SQL_DIR)]
    assert ids == sorted(ids, key=lambda i: (i[:3], ".timescale" in i))
    assert ids[0] == "001_schemas.sql"
    assert ids.index("002_raw_bars.sql") < ids.index("002_raw_bars.timescale.sql")


def test_migrate_twice_changes_nothing(empty_db_url):
    first = migrate(empty_db_url, SQL_DIR, use_timescale=False)
    assert first.applied and not first.timescale
    assert all(".timescale" not in a for a in first.applied)
    before = _schema_fingerprint(empty_db_url)
    with psycopg.connect(empty_db_url) as c:
        stamps = c.execute(
            "select id, applied_at from ops.schema_migrations order by id"
        ).fetchall()
    second = migrate(empty_db_url, SQL_DIR, use_timescale=False)
    assert second.applied == []
    assert second.already == len(first.applied)
    assert _schema_fingerprint(empty_db_url) == before
    with psycopg.connect(empty_db_url) as c:
        assert (
            c.execute("select id, applied_at from ops.schema_migrations order by id").fetchall()
            == stamps
        )
    st = schema_status(empty_db_url, SQL_DIR)
    assert st["up_to_date"] and st["pending"] == [] and st["timescaledb"] is None


def test_contract_tables_exist(db_url):
    with psycopg.connect(db_url) as c:
        rels = {
            f"{s}.{t}"
            for s, t in c.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
    for name in [
        "raw.bars_daily",
        "raw.bars_minute",
        "raw.bars_hourly",
        "raw.corporate_actions",
        "ref.universe_members",
        "ops.ingest_runs",
        "ops.ingest_watermarks",
        "ops.quarantine",
        "ml.training_runs",
        "ml.model_versions",
        "signals.target_weights",
        "broker.orders",
        "broker.fills",
        "broker.positions",
        "broker.account_snapshots",
    ]:
        assert name in rels, name


def test_changed_migration_is_an_error(empty_db_url, tmp_path):
    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    migrate(empty_db_url, sql, use_timescale=False)
    (sql / "003_reference.sql").write_text((sql / "003_reference.sql").read_text() + "\n-- edit\n")
    with pytest.raises(WarehouseError, match="003_reference.sql changed after it was applied"):
        migrate(empty_db_url, sql, use_timescale=False)


def test_failed_migration_rolls_back_and_is_not_recorded(empty_db_url, tmp_path):
    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    (sql / "900_broken.sql").write_text(
        "create table raw.half_done (x int);\nselect * from no_such_table;\n"
    )
    with pytest.raises(WarehouseError, match="900_broken.sql failed"):
        migrate(empty_db_url, sql, use_timescale=False)
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("select to_regclass('raw.half_done')").fetchone()[0] is None
        ids = [r[0] for r in c.execute("select id from ops.schema_migrations")]
    assert "900_broken.sql" not in ids and "008_minute_rollup.sql" in ids


def test_forcing_timescale_without_extension_fails_clearly(empty_db_url):
    with pytest.raises(WarehouseError, match="timescaledb is not available"):
        migrate(empty_db_url, SQL_DIR, use_timescale=True)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_target_weights_reject_non_finite(db_url, bad):
    with psycopg.connect(db_url) as c, pytest.raises(psycopg.errors.CheckViolation):
        c.execute(
            "insert into signals.target_weights values ('2020-01-02', 'm', 1, 'AAPL', %s)", (bad,)
        )


def test_bars_reject_inconsistent_ohlc(db_url):
    with psycopg.connect(db_url) as c, pytest.raises(psycopg.errors.CheckViolation):
        c.execute(
            "insert into raw.bars_daily (source, symbol, session, open, high, low, close, volume) "
            "values ('t', 'X', '2020-01-02', 10, 9, 8, 9.5, 100)"
        )


def test_one_production_version_per_model(db_url):
    with psycopg.connect(db_url) as c:
        c.execute(
            "insert into ml.model_versions (model_name, version, stage, artifact_uri) "
            "values ('ppo', 1, 'production', 'file:///a')"
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            c.execute(
                "insert into ml.model_versions (model_name, version, stage, artifact_uri) "
                "values ('ppo', 2, 'production', 'file:///b')"
            )


def test_statement_splitter_respects_quotes_and_dollar_bodies():
    sql = "select ';'; do $$ begin perform 1; end $$;\n-- a; comment\nselect 2"
    assert _split_statements(sql) == ["select ';'", "do $$ begin perform 1; end $$", "select 2"]
