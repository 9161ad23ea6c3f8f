"""The module's memory behaviour: values-only passes in slices, freed tensor memory reused.

Neither changes a number: the sliced values (and their gradients) equal one pass over the
batch, and the allocator setting only decides whether freed pages go back to the OS.
"""

from __future__ import annotations

import inspect
import resource
import subprocess
import sys

import numpy as np
import torch
from ray.rllib.core.columns import Columns

import tradewind.rl.model as model
from tradewind.rl.data import MarketData
from tradewind.rl.env import PortfolioEnv
from tradewind.rl.model import EIIEModule


def test_values_only_pass_in_slices_equals_one_pass(market: MarketData, monkeypatch) -> None:
    env = PortfolioEnv(market, window=8)
    env.action_space.seed(1)
    obs, _ = env.reset(seed=1)
    rows = []
    for _ in range(11):
        rows.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    batch = {k: torch.as_tensor(np.stack([r[k] for r in rows])) for k in rows[0]}
    torch.manual_seed(0)
    module = EIIEModule(
        observation_space=env.observation_space, action_space=env.action_space, model_config={}
    )
    # Reference: one pass through the training forward's embeddings (never sliced).
    one = module.compute_values({}, module.forward_train({Columns.OBS: batch})[Columns.EMBEDDINGS])
    one.square().sum().backward()
    ref_grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    module.zero_grad()
    monkeypatch.setattr(model, "VALUE_CHUNK", 4)  # 11 rows: slices of 4, 4, 3
    sliced = module.compute_values({Columns.OBS: batch})
    assert sliced.shape == (11,)
    torch.testing.assert_close(sliced, one, rtol=0, atol=1e-6)
    sliced.square().sum().backward()
    assert ref_grads  # the encoder and the value head got gradients
    for name, grad in ref_grads.items():
        torch.testing.assert_close(dict(module.named_parameters())[name].grad, grad)


def _minibatch() -> float:  # eight 24 MB intermediates alive together, then all freed
    blocks = [torch.ones(6_000_000) for _ in range(8)]
    return sum(float(b[-1]) for b in blocks)


def _faults_of_five_minibatches() -> int:
    _minibatch()  # the first round always faults its pages in
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        _minibatch()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_retain_freed_memory_stops_page_faults_per_allocation(ci_skip) -> None:
    """Five rounds of 8 x 24 MB allocated and freed: with glibc's defaults (a fresh process
    with torch only) the freed heap top goes back to the OS and its pages fault in again
    (5,860 pages of 4 KiB per block); with the setting the same pages are reused."""
    if not sys.platform.startswith("linux"):
        ci_skip("glibc mallopt needs Linux")  # a failure under CI=true, never a silent skip
    script = (
        "import resource, torch\n"
        + inspect.getsource(_minibatch)
        + inspect.getsource(_faults_of_five_minibatches)
        + "print(_faults_of_five_minibatches())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    default = int(out.stdout.split()[-1])
    assert model.retain_freed_memory()  # process-wide; this test process keeps it
    retained = _faults_of_five_minibatches()
    assert default > 40_000  # at least 7 of the 40 blocks faulted in again
    assert retained < default / 10
