"""Helpers of the training tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from tradewind.rl.agents import AgentConfig, load_agent

# Short windows so a tiny run has a train, a validation and a test window of its own.
WINDOWS = {
    "windows.train.start": "2015-01-01",
    "windows.train.end": "2016-12-31",
    "windows.validation.start": "2017-01-01",
    "windows.validation.end": "2017-06-30",
    "windows.test.start": "2017-07-01",
    "windows.test.end": "2017-12-29",
}


def tiny_agent(symbols: list[str], **overrides) -> AgentConfig:
    """The demo agent cut down to seconds: 4 assets, window 8, 2 iterations of 512 steps."""
    return load_agent("demo").with_overrides(
        **WINDOWS,
        universe=list(symbols),
        window=8,
        episode_length=64,
        **{
            "budget.timesteps": 1024,
            "algorithm.train_batch_size": 512,
            "algorithm.minibatch_size": 128,
            "algorithm.num_epochs": 2,
            "runners.num_envs_per_env_runner": 8,
            "checkpoint.every_iterations": 1,
            "early_stopping.eval_every": 100,  # one validation check, at the end
            **overrides,
        },
    )
