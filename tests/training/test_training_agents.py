"""Agent and sweep files: every shipped file validates; every mistake is one line naming the
key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tradewind.rl.agents import (
    AGENTS_DIR,
    AgentConfigError,
    available_agents,
    load_agent,
)
from tradewind.rl.env import EnvConfig


def test_shipped_agents_validate() -> None:
    names = available_agents()
    assert {"demo", "dow30_ppo", "sp100_ppo"} <= set(names)
    algorithms = set()
    for name in names:
        agent = load_agent(name)
        assert agent.name == name
        algorithms.add(agent.algorithm.name)
        assert agent.costs.fixed_bps == 10.0
        for window in ("train", "validation", "test", None):
            EnvConfig.build(agent.env_config(window))  # valid environment options
    assert {"PPO", "APPO"} <= algorithms
    dow = load_agent("dow30_ppo")
    assert dow.universe == "DOW30" and dow.point_in_time
    assert dow.windows.as_dict() == {
        "train": ("2008-01-01", "2016-12-31"),
        "validation": ("2017-01-01", "2018-12-31"),
        "test": ("2019-01-01", "2020-09-30"),
    }
    assert load_agent("sp100_ppo").universe == "SP100"
    assert load_agent("demo").budget.timesteps <= 32_768  # the 3-minute agent


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("algorithm: {lerning_rate: 0.1}\n", "unknown key 'algorithm.lerning_rate'"),
        ("colour: blue\n", "unknown key 'colour'"),
        ("algorithm: {name: DQN}\n", "algorithm.name"),
        ("window: 0\n", "window"),
        ("costs: {fixed_bps: -1}\n", "costs.fixed_bps"),
        ("windows: {validation: {start: 2015-01-01, end: 2015-12-31}}\n", "windows"),
        ("windows: {train: {start: 2010-01-01, end: 2009-01-01}}\n", "windows.train"),
        ("features: []\n", "features"),
        ("pretrain: {synthetic: {drifft: 0.1}}\n", "pretrain.synthetic"),
        ("window: [1, 2\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(AgentConfigError) as info:
        load_agent(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg and expected in msg


def test_unknown_agent_lists_the_known_ones() -> None:
    with pytest.raises(AgentConfigError, match="known agents: demo"):
        load_agent("no_such_agent")


def test_overrides_are_validated() -> None:
    agent = load_agent("demo").with_overrides(**{"algorithm.lr": 0.01, "seed": 9})
    assert agent.algorithm.lr == 0.01 and agent.seed == 9
    with pytest.raises(AgentConfigError, match="unknown key 'algorithm.nope'"):
        load_agent("demo").with_overrides(**{"algorithm.nope": 1})
    # The resolved YAML round-trips (what a run's agent.yaml stores).
    again = yaml.safe_load(agent.to_yaml())
    assert load_agent("demo").model_validate(again) == agent


def test_sweep_files(tmp_path: Path) -> None:
    from tradewind.rl.tune import load_sweep, param_space

    sweep = load_sweep(AGENTS_DIR / "sweep_demo.yaml")
    assert sweep.agent == "demo" and sweep.scheduler.type == "asha"
    assert set(param_space(sweep)) == set(sweep.space)
    bad = _write(tmp_path, "agent: demo\nspace: {algorithm.lr: {normal: [0, 1]}}\n", "s.yaml")
    with pytest.raises(AgentConfigError, match="s.yaml: space.algorithm.lr: one sampler"):
        load_sweep(bad)
    bad = _write(tmp_path, "agent: demo\nspace: {algorithm.lrr: {grid: [1, 2]}}\n", "t.yaml")
    with pytest.raises(AgentConfigError, match="unknown key 'algorithm.lrr'"):
        load_sweep(bad)
    bad = _write(tmp_path, "agent: demo\nsamples: 3\nspace: {seed: {grid: [1]}}\n", "u.yaml")
    with pytest.raises(AgentConfigError, match="u.yaml: samples: unknown key"):
        load_sweep(bad)
