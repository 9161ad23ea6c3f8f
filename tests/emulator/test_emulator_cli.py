"""``python -m tradewind.emulator`` and ``serve()``: a blocking emulator another process can use."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import requests
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from emu_helpers import KEY_ID, SECRET

from tradewind.emulator import make_dataset, serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, deadline_s: float = 60.0) -> dict:
    end = time.monotonic() + deadline_s
    while True:
        try:
            return requests.get(url + "/_emulator/health", timeout=2).json()
        except requests.ConnectionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def test_module_entry_point_serves_a_generated_dataset():
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradewind.emulator",
            "--port",
            str(port),
            "--symbols",
            "AAPL,MSFT",
            "--start",
            "2015-01-02",
            "--end",
            "2015-03-31",
            "--page-cap",
            "25",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        health = _wait_healthy(url)
        assert health["symbols"] == ["AAPL", "MSFT"]
        client = StockHistoricalDataClient(KEY_ID, SECRET, url_override=health["alpaca_data_url"])
        bs = client.get_stock_bars(
            StockBarsRequest(
                symbol_or_symbols=["AAPL", "MSFT"], timeframe=TimeFrame.Day, start="2015-01-01"
            )
        )
        df = bs.df.reset_index()
        # Same generator and seed as make_dataset defaults: the other process serves these bars.
        want = make_dataset(["AAPL", "MSFT"], "2015-01-02", "2015-03-31", seed=0).daily
        assert len(df) == len(want) == 2 * 61
        assert df["close"].tolist() == want["close"].tolist()
        log = requests.get(url + "/_emulator/requests", timeout=5).json()
        assert len(log) == 5  # ceil(122 / 25) pages
    finally:
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}/alpaca-data" in out


def test_serve_blocks_until_stopped(dataset):
    port = _free_port()
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(
        target=serve,
        args=("127.0.0.1", port, dataset),
        kwargs={"ready": ready, "stop": stop, "announce": False, "page_cap": 10},
        daemon=True,
    )
    t.start()
    assert ready.wait(30)
    assert _wait_healthy(f"http://127.0.0.1:{port}")["symbols"] == dataset.symbols
    stop.set()
    t.join(10)
    assert not t.is_alive()
    try:
        requests.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=2)
        raise AssertionError("the server should be down")
    except requests.ConnectionError:
        pass
