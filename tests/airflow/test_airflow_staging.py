"""Batches between tasks go through TRADEWIND_STAGING_URI (an fsspec URL), not a worker's disk:
the staging helpers round-trip files and folders through a remote filesystem, and a real
ingest_daily_bars run with ``memory://`` staging loads the session while nothing lands under
the worker's TRADEWIND_HOME/staging."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tradewind.orchestration.connections import airflow_conn_env

SYMBOLS = ["AAPL", "MSFT", "KO"]


def test_staged_output_and_input_round_trip_through_a_remote_filesystem(tmp_path):
    import fsspec

    from tradewind.orchestration.runtime import staged_input, staged_output

    uri = "memory://tw-staging-test/dag/2024-07-02/validated-alpaca"
    with staged_output(uri) as folder:
        folder.mkdir()
        (folder / "valid.parquet").write_bytes(b"rows")
        (folder / "meta.json").write_text('{"n": 1}')
    fs = fsspec.filesystem("memory")
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/tw-staging-test/dag/2024-07-02/"
                                                       "validated-alpaca", detail=False)) == [
        "meta.json", "valid.parquet"
    ]  # fmt: skip
    # Writing again replaces the folder (a retry), it does not pile files up.
    with staged_output(uri) as folder:
        folder.mkdir()
        (folder / "valid.parquet").write_bytes(b"rows again")
    with staged_input(uri) as local:
        assert sorted(p.name for p in local.iterdir()) == ["valid.parquet"]
        assert (local / "valid.parquet").read_bytes() == b"rows again"
    assert not local.exists()  # the local copy is temporary
    file_uri = "memory://tw-staging-test/dag/2024-07-02/extract-alpaca.parquet"
    with staged_output(file_uri) as path:
        path.write_bytes(b"batch")
    with staged_input(file_uri) as path:
        assert path.read_bytes() == b"batch"
    # A local folder is used in place.
    with staged_output(str(tmp_path / "x" / "b.parquet")) as path:
        path.write_bytes(b"1")
    assert (tmp_path / "x" / "b.parquet").read_bytes() == b"1"


@pytest.mark.airflow
@pytest.mark.integration
def test_ingest_hands_batches_on_through_the_staging_url(airflow, db_url):
    from tradewind.emulator.dataset import make_dataset
    from tradewind.emulator.server import MarketEmulator

    dataset = make_dataset(SYMBOLS, "2024-05-01", "2024-07-03", minute=False, actions=False)
    with MarketEmulator(dataset) as emu:
        airflow.env.update(
            airflow_conn_env(
                db_url,
                alpaca_key_id="k",
                alpaca_secret_key="s",
                alpaca_data_url=emu.alpaca_data_url,
            )  # fmt: skip
        )
        # dag.test() runs every task in the driver's process: one in-memory filesystem.
        airflow.env["TRADEWIND_STAGING_URI"] = "memory://tw-staging"
        result = airflow.run(
            "ingest_daily_bars", "2024-07-02T20:30:00+00:00",
            conf={"universe": None, "symbols": SYMBOLS},
        )  # fmt: skip
    assert result["state"] == "success", result
    assert result["tasks"]["load"] == "success"
    assert "memory://tw-staging/ingest_daily_bars/2024-07-02/validated-alpaca" in airflow.last_log
    home = Path(airflow.env["TRADEWIND_HOME"])
    assert not (home / "staging").exists()
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "select symbol from raw.bars_daily where session = '2024-07-02' order by 1"
        ).fetchall()
    assert [r[0] for r in rows] == sorted(SYMBOLS)
