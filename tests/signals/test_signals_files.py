"""Weight files, blends and checks without a warehouse: format, atomicity, fsspec, rules."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pandas as pd
import pytest

from tradewind.signals import files as wf
from tradewind.signals.weights import (
    Bounds,
    InvalidWeights,
    blend,
    cap_weights,
    sharpe_coefficients,
    validate,
)

D1, D2 = dt.date(2020, 3, 2), dt.date(2020, 3, 3)


def test_format_is_fixed_sorted_and_never_exceeds_its_sums():
    third = np.full(3, 1 / 3)
    data = wf.format_rows([(D2, ("MSFT", "AAPL", "KO"), third), (D1, ("KO", "AAPL", "MSFT"),
                                                                 np.array([0.5, -0.0, 0.5]))])  # fmt: skip
    lines = data.decode().splitlines()
    assert lines == [
        "date,symbol,weight",
        "2020-03-02,AAPL,0.0000000000",
        "2020-03-02,KO,0.5000000000",
        "2020-03-02,MSFT,0.5000000000",
        "2020-03-03,AAPL,0.3333333333",
        "2020-03-03,KO,0.3333333333",
        "2020-03-03,MSFT,0.3333333333",
    ]
    # Truncation toward zero: weights summing to 1 (or a gross of 1) stay within it in text.
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = rng.dirichlet(np.ones(30))
        ls = w * rng.choice([-1, 1], 30)
        q = wf.quantize(w)
        assert q.sum() <= 1.0 and np.abs(wf.quantize(ls)).sum() <= np.abs(ls).sum()
        assert np.all(np.abs(q - w) < 1e-10)


def test_history_merge_replaces_sessions_and_keeps_the_rest():
    a = wf.format_rows([(D1, ("A", "B"), np.array([0.1, 0.2]))])
    b = wf.format_rows([(D2, ("A", "B"), np.array([0.3, 0.4]))])
    b2 = wf.format_rows([(D2, ("A", "B"), np.array([0.5, 0.0]))])
    hist = wf.merge_history(None, {D2: b})
    hist = wf.merge_history(hist, {D1: a})
    assert hist == wf.format_rows([(D1, ("A", "B"), np.array([0.1, 0.2])),
                                   (D2, ("A", "B"), np.array([0.3, 0.4]))])  # fmt: skip
    assert wf.merge_history(hist, {D2: b}) == hist  # regeneration: the same bytes
    assert b"2020-03-03,A,0.5000000000" in wf.merge_history(hist, {D2: b2})


@pytest.mark.parametrize("scheme", ["memory", "file", "path"])
def test_destinations_through_fsspec_and_read_weights(scheme, tmp_path):
    from tradewind.signals import read_weights

    if scheme == "memory":
        base = f"memory://tw-{uuid.uuid4().hex}/weights"
    elif scheme == "file":
        base = f"file://{tmp_path}/weights"
    else:
        base = str(tmp_path / "weights")
    dest = wf.WeightsDestination(base)
    data = wf.format_rows([(D1, ("AAPL", "KO"), np.array([0.25, 0.5]))])
    uri = dest.write_atomic("m1", wf.session_file_name(D1), data)
    dest.write_atomic("m1", wf.HISTORY_NAME, wf.merge_history(None, {D1: data}))
    assert uri == f"{base}/m1/weights_2020-03-02.csv"
    assert dest.read_bytes("m1", wf.session_file_name(D1)) == data
    frame = read_weights(f"{base}/m1", date="2020-03-02")
    assert frame.to_dict("list") == {"date": [D1, D1], "symbol": ["AAPL", "KO"],
                                     "weight": [0.25, 0.5]}  # fmt: skip
    pd.testing.assert_frame_equal(read_weights(f"{base}/m1"), frame)
    with pytest.raises(FileNotFoundError, match="no weight file"):
        read_weights(f"{base}/m1", date="2020-03-03")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("date,symbol,weight-x\n2020-03-02,A,0.1\n", "column name 'weight-x'"),
        ("date,symbol\n2020-03-02,A\n", "missing column 'weight'"),
        ("date,symbol,weight\n03/02/2020,A,0.1\n", "'03/02/2020' is not ISO"),
        ("date,symbol,weight\n2020-03-02,A,0.1\n2020-03-02,A,0.2\n", "more than one row for A"),
        ("date,symbol,weight\n2020-03-02,A,inf\n", "weight"),
        ("", "empty file"),
    ],
)
def test_quantopian_rules_are_enforced_on_read(text, match):
    with pytest.raises(wf.WeightFileError, match=match):
        wf.parse_weights(text.encode(), "f.csv")


WRITER = textwrap.dedent(
    """
    import sys, time
    import fsspec.implementations.local as local
    from tradewind.signals import files as wf

    original = local.LocalFileOpener.write
    def slow(self, data):
        print("chunk", flush=True)
        time.sleep(0.05)
        return original(self, data)
    local.LocalFileOpener.write = slow
    wf.CHUNK_BYTES = 4096
    dest = wf.WeightsDestination(sys.argv[1])
    rows = [(wf.dt.date(2020, 3, 2), [f"S{i:05d}" for i in range(20000)], [0.00001] * 20000)]
    dest.write_atomic("m1", "weights_2020-03-02.csv", wf.format_rows(rows))
    print("done", flush=True)
    """
)


def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path):
    dest = wf.WeightsDestination(str(tmp_path))
    previous = wf.format_rows([(D1, ("AAPL",), np.array([0.5]))])
    dest.write_atomic("m1", "weights_2020-03-02.csv", previous)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER.replace("wf.dt.date", "__import__('datetime').date"),
         str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        chunks = 0
        while chunks < 5:
            line = proc.stdout.readline()
            assert line, "the writer ended before it was killed"
            chunks += line.strip() == "chunk"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    folder = tmp_path / "m1"
    assert (folder / "weights_2020-03-02.csv").read_bytes() == previous
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".weights_")]
    assert len(leftovers) == 1 and ".tmp-" in leftovers[0]  # killed mid-way indeed
    assert len(wf.parse_weights(previous)) == 1
    # A later successful write replaces the file whole.
    again = wf.format_rows([(D1, ("AAPL",), np.array([0.25]))])
    dest.write_atomic("m1", "weights_2020-03-02.csv", again)
    assert (folder / "weights_2020-03-02.csv").read_bytes() == again


def test_validate_bounds():
    syms = ("A", "B", "C")
    validate(np.array([[0.2, 0.3, 0.5]]), syms, Bounds(0.5), "m")  # sum exactly 1 is fine
    cases = [
        (np.array([0.2, np.nan, 0.1]), Bounds(0.5), r"m \(row 0\): B weight nan is not finite"),
        (np.array([0.2, -0.01, 0.1]), Bounds(0.5), "B weight -0.01 is negative"),
        (np.array([0.6, 0.1, 0.1]), Bounds(0.5), "A weight 0.6 exceeds the max weight 0.5"),
        (np.array([0.5, 0.5, 0.01]), Bounds(0.5), "weights sum to 1.01 > 1"),
        (np.array([0.5, -0.5, 0.2]), Bounds(0.5, True, 1.0), "gross exposure 1.2 exceeds 1"),
        (np.array([0.7, -0.1, 0.0]), Bounds(0.5, True, 1.0), r"A \|weight\| 0.7 exceeds"),
    ]
    for w, bounds, match in cases:
        with pytest.raises(InvalidWeights, match=match):
            validate(w, syms, bounds, "m")
    validate(np.array([0.5, -0.4, 0.1]), syms, Bounds(0.5, True, 1.0), "m")


def test_blends():
    w = np.array([[[0.5, 0.5]], [[0.1, 0.3]]])  # 2 members, 1 session, 2 assets
    np.testing.assert_allclose(blend(w, [0.5, 0.5]), [[0.3, 0.4]])
    np.testing.assert_allclose(blend(w, [0.25, 0.75]), [[0.2, 0.35]])
    with pytest.raises(ValueError, match="sum to 1"):
        blend(w, [0.5, 0.6])
    np.testing.assert_allclose(cap_weights(np.array([0.6, 0.2, 0.1]), 0.3), [0.3, 0.2, 0.1])
    np.testing.assert_allclose(cap_weights(np.array([0.6, -0.6]), 0.5, 0.8), [0.4, -0.4])
    np.testing.assert_allclose(sharpe_coefficients([1.0, 3.0, -1.0]), [0.25, 0.75, 0.0])
    np.testing.assert_allclose(sharpe_coefficients([-1.0, -2.0]), [0.5, 0.5])


def test_ensemble_files_are_validated(tmp_path):
    from tradewind.signals.ensembles import EnsembleError, load_ensemble

    ok = tmp_path / "blend.yaml"
    ok.write_text("members: [a, b@2]\nrule: risk_capped\nbase: sharpe\nmax_weight: 0.1\n")
    cfg = load_ensemble(ok)
    assert cfg.name == "blend" and cfg.member_refs == [("a", None), ("b", 2)]
    assert cfg.coefficient_rule == "sharpe"
    for text, match in [
        ("members: [a]\nrulez: equal\n", r"bad.yaml: rulez: unknown key"),
        ("members: [a]\nrule: median\n", r"bad.yaml: rule: "),
        ("members: [a, a@2]\n", "a model appears twice"),
        ("members: []\n", "members"),
        ("members: [a b]\n", "is not NAME or NAME@VERSION"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(EnsembleError, match=match) as info:
            load_ensemble(bad)
        assert "\n" not in str(info.value)


def test_the_environment_builds_its_observations_with_observation_at(market_small):
    """The one observation builder: the env's observation is observation_at's output."""
    from tradewind.rl.env import PortfolioEnv, observation_at

    env = PortfolioEnv(market_small, window=4, random_start=False)
    obs, _ = env.reset(seed=0)
    ref = observation_at(env.arrays, env.session_index(env.session), 4, env._prev_w)
    for k in obs:
        assert np.array_equal(obs[k], ref[k])
    with pytest.raises(ValueError, match="fewer than 4 sessions"):
        observation_at(env.arrays, 2, 4, env._prev_w)


@pytest.fixture
def market_small():
    from tradewind.markets.synthetic import SyntheticMarketConfig, generate_paths
    from tradewind.rl.data import MarketData

    paths = generate_paths(SyntheticMarketConfig(symbols=("A", "B", "C"), seed=1), 40)
    return MarketData.from_ohlcv(paths, symbols=("A", "B", "C"))
