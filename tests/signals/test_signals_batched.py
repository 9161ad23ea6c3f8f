"""The backfill's batched path (encoder over all windows at once, head per decision) gives the
plain policy's decisions bit for bit, falls back when it does not, and its bulk writers (one
file per session formatted in one pass, threads for the files, one COPY for the rows) write
what the one-at-a-time writers did.

References: the policy called on one observation at a time (what the environment's evaluation
calls), a chain written out here with the environment's own functions, a formatter written here
with integer arithmetic (truncation toward zero), and the float8 bits read back from PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math

import numpy as np
import psycopg
import pytest
import torch

from tradewind.rl.agents import load_agent
from tradewind.rl.artifacts import LoadedPolicy, WindowedPolicy, build_module
from tradewind.rl.core import target_weights
from tradewind.rl.env import MarketArrays, observation_at
from tradewind.signals import files as wf
from tradewind.signals.generate import run_chain

N, S = 30, 120
SYMS = tuple(f"S{i:02d}" for i in range(N))


@pytest.fixture(scope="module")
def policy() -> LoadedPolicy:
    agent = load_agent("demo")
    module = build_module(agent, SYMS)
    # A freshly built module scores every asset alike (zero last layer, zero cash bias):
    # random parameters make every bit of the head matter.
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return LoadedPolicy.from_module(module, agent, SYMS)


def market(policy: LoadedPolicy, seed: int = 0) -> MarketArrays:
    rng = np.random.default_rng(seed)
    t = S + policy.window
    listed = (rng.random((t, N)) > 0.1).astype(np.float32)
    return MarketArrays(
        obs_features=rng.normal(0, 0.05, (t, len(policy.features), N)).astype(np.float32),
        listed=listed,
        available=listed.astype(bool),
        available_f=listed.astype(np.float64),
        gross=np.ones((t, N + 1)),
        rates=np.zeros((t, N)),
        sessions=tuple(f"s{i}" for i in range(t)),
        t_first=policy.window - 1,
        t_last=t - 1,
    )


def plain_chain(policy, arrays, indices, masks, action, prev):
    """The chain as the environment's evaluation makes it: one forward pass per decision."""
    out = []
    for i, t in enumerate(indices):
        obs = observation_at(arrays, t, policy.window, prev)
        prev = target_weights(policy(obs), masks[i], action, prev)
        out.append(prev)
    return np.array(out)


def chain_inputs(policy, arrays):
    indices = list(range(policy.window - 1, policy.window - 1 + S))
    masks = arrays.listed[indices].astype(np.float64)
    action = dataclasses.replace(policy.env_config.action, kind=policy.action_kind)
    first = np.r_[np.full(N, 0.5 / N), 0.5]
    return indices, masks, action, first


@pytest.mark.parametrize("chunk", [7, 256])
def test_batched_encoder_decides_bit_for_bit_like_one_observation(policy, monkeypatch, chunk):
    import tradewind.rl.artifacts as artifacts

    monkeypatch.setattr(artifacts, "ENCODE_CHUNK", chunk)  # several chunks and one
    arrays = market(policy)
    indices, masks, action, prev = chain_inputs(policy, arrays)
    feats = np.stack([arrays.obs_features[t - policy.window + 1 : t + 1] for t in indices])
    windowed = policy.over_windows(feats)
    assert isinstance(windowed, WindowedPolicy) and len(windowed) == S
    spread = []
    for i, t in enumerate(indices):
        obs = observation_at(arrays, t, policy.window, prev)
        got, want = windowed.decide(i, obs), policy(obs)
        assert np.array_equal(got, want), (i, np.abs(got - want).max())
        spread.append(want)
        prev = target_weights(want, masks[i], action, prev)
    # The decisions really differ across assets and days (a constant policy proves nothing).
    assert np.std(np.array(spread)[:, :-1]) > 1e-3

    with torch.no_grad(), pytest.raises(ValueError, match="features windows have shape"):
        policy.over_windows(feats[:, 1:])


def test_run_chain_is_the_plain_chain(policy):
    arrays = market(policy, seed=1)
    indices, masks, action, first = chain_inputs(policy, arrays)
    got = run_chain(policy, arrays, indices, policy.window, masks, action, first)
    want = plain_chain(policy, arrays, indices, masks, action, first)
    assert np.array_equal(got, want)


class _OffByOneBit:
    """A policy whose batched encoder is one float32 ulp off on one window's embeddings (as a
    kernel summing in another order for another batch size would be)."""

    def __init__(self, policy: LoadedPolicy, row: int):
        self.policy, self.row = policy, row

    def __getattr__(self, name):
        return getattr(self.policy, name)

    def __call__(self, obs):
        return self.policy(obs)

    def over_windows(self, features):
        windowed = self.policy.over_windows(features)
        per_asset = windowed.per_asset.clone()
        emb = per_asset[self.row, :, :-2]  # the encoder's part of the row: each value 1 ulp up
        per_asset[self.row, :, :-2] = torch.nextafter(emb, torch.full_like(emb, np.inf))
        return WindowedPolicy(self.policy, per_asset)


@pytest.mark.parametrize("row", [0, 64, S - 1])  # checked rows: the first, every 32nd, the last
def test_run_chain_falls_back_to_one_observation_at_a_time(policy, caplog, row):
    arrays = market(policy, seed=2)
    indices, masks, action, first = chain_inputs(policy, arrays)
    want = plain_chain(policy, arrays, indices, masks, action, first)
    with caplog.at_level(logging.WARNING, logger="tradewind.signals.generate"):
        got = run_chain(_OffByOneBit(policy, row), arrays, indices, policy.window, masks,
                        action, first)  # fmt: skip
    assert np.array_equal(got, want)
    assert "recomputing the chain" in caplog.text
    # The bit mattered: the batched decision of that session alone is not the plain one.
    feats = np.stack([arrays.obs_features[t - policy.window + 1 : t + 1] for t in indices])
    t = indices[row]
    obs = observation_at(arrays, t, policy.window, want[row - 1] if row else first)
    assert not _OffByOneBit(policy, row).over_windows(feats).matches(row, obs)


def _independent_file(day: dt.date, symbols, weights) -> bytes:
    """The documented format by integer arithmetic: trunc(w * 10^10) written as a decimal."""
    lines = ["date,symbol,weight"]
    for sym, w in sorted(zip(symbols, weights, strict=True)):
        q = math.trunc(float(w) * 1e10)
        sign = "-" if q < 0 else ""
        lines.append(f"{day.isoformat()},{sym},{sign}{abs(q) // 10**10}.{abs(q) % 10**10:010d}")
    return ("\n".join(lines) + "\n").encode()


def test_session_files_formatted_in_one_pass_match_an_independent_formatter():
    rng = np.random.default_rng(5)
    symbols = ("MSFT", "AAPL", "KO", "BRK.B", "A")
    days = [dt.date(2020, 3, 2) + dt.timedelta(days=i) for i in range(40)]
    weights = rng.dirichlet(np.ones(5), len(days)) * rng.choice([1.0, -1.0], (len(days), 5))
    weights[0] = [0.0, -0.0, 1e-12, -1e-12, 1.0]
    weights[1] = [0.1, 0.2, 0.3, 0.25, 0.15]  # binary fractions a hair below the decimal
    got = wf.format_sessions(days, symbols, weights)
    assert got == [_independent_file(d, symbols, w) for d, w in zip(days, weights, strict=True)]
    assert got[0].decode().splitlines()[1:] == [
        "2020-03-02,A,1.0000000000",
        "2020-03-02,AAPL,0.0000000000",
        "2020-03-02,BRK.B,0.0000000000",
        "2020-03-02,KO,0.0000000000",
        "2020-03-02,MSFT,0.0000000000",
    ]


@pytest.mark.parametrize("url", ["memory://tw-h11-batched", "local"])
def test_files_written_and_read_in_threads(tmp_path, url):
    import fsspec

    dest = wf.WeightsDestination(str(tmp_path) if url == "local" else url)
    files = [(f"f{i:03d}.csv", f"payload {i}\n".encode() * (i + 1)) for i in range(64)]
    dest.write_many("m", files)
    assert dest.read_many("m", [n for n, _ in files] + ["absent.csv"]) == [d for _, d in files] + [
        None
    ]
    fs, root = fsspec.core.url_to_fs(dest.url)
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root.rstrip('/')}/m", detail=False))
    assert names == sorted(n for n, _ in files)  # no temporary file left behind
    if url != "local":
        fs.rm(root, recursive=True)


@pytest.mark.integration
def test_weights_copied_in_bulk_keep_every_bit(db_url):
    from tradewind.signals import store

    rng = np.random.default_rng(3)
    days = [dt.date(2020, 1, 2) + dt.timedelta(days=i) for i in range(50)]
    syms = ("AAPL", "MSFT", "KO")
    w = rng.dirichlet(np.ones(4), len(days))[:, :3]
    w[0] = [np.nextafter(0.0, 1.0), 0.1 + 0.2, 1 / 3]  # a subnormal, and repr-hostile values
    with psycopg.connect(db_url) as conn:
        assert store.write_weights(conn, "bulk", 1, days, syms, w) == w.size
        assert store.write_weights(conn, "bulk", 1, days, syms, w) == 0  # a re-run: nothing
        rows = conn.execute(
            "select as_of_session, symbol, float8send(weight) from signals.target_weights "
            "where model_name = 'bulk' order by 1, 2"
        ).fetchall()
    col = {s: i for i, s in enumerate(syms)}
    assert len(rows) == w.size
    for day, sym, raw in rows:
        assert bytes(raw) == np.array([w[days.index(day), col[sym]]], dtype=">f8").tobytes()
