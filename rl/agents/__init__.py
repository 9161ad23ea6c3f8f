"""Agent definitions ("training sessions"): ``rl/agents/<name>.yaml`` validated by :class:`AgentConfig`.

One file says everything a training run needs: the algorithm and its settings, the RLModule
(EIIE, ``tradewind.rl.model``) and its sizes, the universe, features, window, costs, action
mode, the train/validation/test windows, the seed, the budget, checkpointing, early stopping and
an optional synthetic-market pre-training phase. Unknown keys are errors (``extra="forbid"``),
reported as one line naming the key and the file (:class:`AgentConfigError`).

``load_agent("demo")`` reads ``rl/agents/demo.yaml``; ``load_agent("path/to/x.yaml")`` any file.
The agent's name is the file stem unless the file sets ``name``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tradewind.rl.data import DEFAULT_FEATURES

AGENTS_DIR = Path(__file__).resolve().parent
# Windows of the design (inclusive). Validation chooses; test is reported, never used to choose.
DEFAULT_WINDOWS: dict[str, tuple[dt.date, dt.date]] = {
    "train": (dt.date(2008, 1, 1), dt.date(2016, 12, 31)),
    "validation": (dt.date(2017, 1, 1), dt.date(2018, 12, 31)),
    "test": (dt.date(2019, 1, 1), dt.date(2020, 9, 30)),
}
ALGORITHMS = ("PPO", "APPO")


class AgentConfigError(ValueError):
    """A wrong agent file: the message is one line naming the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlgorithmConfig(_Strict):
    """RLlib algorithm (new API stack) and its training settings."""

    name: Literal["PPO", "APPO"] = "PPO"
    lr: float = Field(3e-4, gt=0)
    gamma: float = Field(0.99, ge=0, le=1)
    lambda_: float = Field(0.95, ge=0, le=1, alias="lambda")
    clip_param: float = Field(0.2, gt=0)
    entropy_coeff: float = Field(0.0, ge=0)
    vf_loss_coeff: float = Field(1.0, ge=0)
    grad_clip: float | None = Field(None, gt=0)
    train_batch_size: int = Field(4000, ge=1)
    minibatch_size: int = Field(256, ge=1)
    num_epochs: int = Field(10, ge=1)
    # Algorithm-specific extras passed to ``config.training(...)`` as they are (e.g. APPO's
    # ``vtrace``, ``target_network_update_freq``), checked by RLlib itself.
    extra: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ModelConfig(_Strict):
    """The EIIE RLModule's sizes (``tradewind.rl.model.DEFAULT_MODEL_CONFIG``)."""

    encoder: Literal["conv", "mlp"] = "conv"
    kernel: int = Field(3, ge=1)
    hidden: int = Field(16, ge=1)
    head_hidden: int = Field(32, ge=1)
    vf_hidden: int = Field(64, ge=1)
    log_std_init: float = -0.5
    input_scale: float = Field(10.0, gt=0)
    asset_bias: bool = False


class CostsConfig(_Strict):
    fixed_bps: float = Field(10.0, ge=0)
    slippage_coef: float = Field(0.0, ge=0)


class ActionModeConfig(_Strict):
    kind: Literal["scores", "weights"] = "scores"
    long_short: bool = False
    score_scale: float = Field(5.0, gt=0, le=50)
    max_weight: float | None = Field(None, gt=0, le=1)
    gross_limit: float = Field(1.0, gt=0)


class Window(_Strict):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before start {self.start}")
        return self


class WindowsConfig(_Strict):
    train: Window = Window(start=DEFAULT_WINDOWS["train"][0], end=DEFAULT_WINDOWS["train"][1])
    validation: Window = Window(
        start=DEFAULT_WINDOWS["validation"][0], end=DEFAULT_WINDOWS["validation"][1]
    )
    test: Window = Window(start=DEFAULT_WINDOWS["test"][0], end=DEFAULT_WINDOWS["test"][1])

    @model_validator(mode="after")
    def _disjoint(self) -> WindowsConfig:
        if not self.train.end < self.validation.start <= self.validation.end < self.test.start:
            raise ValueError("windows must be in order train < validation < test, not overlapping")
        return self

    def as_dict(self) -> dict[str, tuple[str, str]]:
        return {
            name: (getattr(self, name).start.isoformat(), getattr(self, name).end.isoformat())
            for name in ("train", "validation", "test")
        }


class BudgetConfig(_Strict):
    timesteps: int = Field(200_000, ge=1, description="Env steps on the real history.")
    max_minutes: float | None = Field(None, gt=0, description="Wall-clock cap; None: none.")


class RunnersConfig(_Strict):
    """Where sampling happens: 0 remote runners = the driver samples (best on 2 cores)."""

    num_env_runners: int = Field(0, ge=0)
    num_envs_per_env_runner: int = Field(16, ge=1)
    vectorize: bool = True
    # "auto": train_batch_size / (runners x envs). APPO needs minibatch_size to be a multiple.
    rollout_fragment_length: int | Literal["auto"] = "auto"


class CheckpointConfig(_Strict):
    every_iterations: int = Field(5, ge=1)


class EarlyStoppingConfig(_Strict):
    """Validation-window checks: every ``eval_every`` iterations; stop after ``patience``
    checks without an improvement of ``min_delta`` in ``metric`` (0 patience: never stop)."""

    eval_every: int = Field(5, ge=1)
    patience: int = Field(0, ge=0)
    min_delta: float = 0.0
    metric: Literal["sharpe", "total_return", "cagr", "sortino"] = "sharpe"


class PretrainConfig(_Strict):
    """Optional first phase on stochastic markets (``tradewind.markets.synthetic``)."""

    synthetic: dict[str, Any] = Field(default_factory=dict)
    timesteps: int = Field(20_000, ge=1)
    episode_length: int = Field(64, ge=1)

    @field_validator("synthetic")
    @classmethod
    def _market(cls, v: dict[str, Any]) -> dict[str, Any]:
        from tradewind.markets.synthetic import SyntheticMarketConfig

        SyntheticMarketConfig.from_dict(v)  # raises on unknown options
        return v


class AgentConfig(_Strict):
    """A complete agent definition (see the module docstring)."""

    name: str
    description: str = ""
    algorithm: AlgorithmConfig = AlgorithmConfig()
    model: ModelConfig = ModelConfig()
    universe: str | list[str] = "DOW30"
    # Universe names: True keeps an asset observable only while it was a member (point in time).
    point_in_time: bool = True
    features: tuple[str, ...] = DEFAULT_FEATURES
    window: int = Field(32, ge=1)
    episode_length: int | None = Field(252, ge=1)
    costs: CostsConfig = CostsConfig()
    action: ActionModeConfig = ActionModeConfig()
    windows: WindowsConfig = WindowsConfig()
    seed: int = 0
    budget: BudgetConfig = BudgetConfig()
    runners: RunnersConfig = RunnersConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    pretrain: PretrainConfig | None = None

    @field_validator("features")
    @classmethod
    def _features(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one feature")
        if len(set(v)) != len(v):
            raise ValueError("features has duplicates")
        return tuple(v)

    @model_validator(mode="after")
    def _pretrain_compatible(self) -> AgentConfig:
        if self.pretrain is not None and self.model.asset_bias:
            raise ValueError("model.asset_bias ties the network to one asset list: no pretrain")
        return self

    def env_config(self, window_name: str | None = "train") -> dict[str, Any]:
        """``EnvConfig`` fields (plain values) for one window (None: every loaded session).

        Training samples random starts; evaluation windows are one deterministic pass.
        """
        rng = None
        if window_name is not None:
            w = getattr(self.windows, window_name)
            rng = (w.start.isoformat(), w.end.isoformat())
        training = window_name == "train"
        return {
            "window": self.window,
            "feature_names": tuple(self.features),
            "session_range": rng,
            "episode_length": self.episode_length if training else None,
            "random_start": training,
            "action_kind": self.action.kind,
            "long_short": self.action.long_short,
            "score_scale": self.action.score_scale,
            "max_weight": self.action.max_weight,
            "gross_limit": self.action.gross_limit,
            "fixed_bps": self.costs.fixed_bps,
            "slippage_coef": self.costs.slippage_coef,
        }

    def with_overrides(self, **changes: Any) -> AgentConfig:
        """A validated copy with dotted-path changes, e.g. ``{"algorithm.lr": 1e-3}``."""
        data = self.model_dump(mode="json", by_alias=True)
        for key, value in changes.items():
            node = data
            *parents, leaf = key.split(".")
            for p in parents:
                if not isinstance(node.get(p), dict):
                    node[p] = {} if node.get(p) is None else node[p]
                node = node[p]
            node[leaf] = value
        return parse_agent(data, origin=f"{self.name} (overrides)")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", by_alias=True), sort_keys=False)


def _one_line(exc: ValidationError, origin: str) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ())) or "(top level)"
    if first.get("type") == "extra_forbidden":
        return f"{origin}: unknown key {loc!r}"
    msg = str(first.get("msg")).removeprefix("Value error, ")
    return f"{origin}: {loc}: {msg}"


def parse_agent(data: Mapping[str, Any], *, origin: str = "agent", name: str | None = None):
    """Validate a mapping (a parsed YAML file) into an :class:`AgentConfig`."""
    if not isinstance(data, Mapping):
        raise AgentConfigError(f"{origin}: expected a mapping of keys, got {type(data).__name__}")
    data = dict(data)
    if name is not None:
        data.setdefault("name", name)
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise AgentConfigError(_one_line(exc, origin)) from None


def agent_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        return p
    return AGENTS_DIR / f"{name_or_path}.yaml"


def load_agent(name_or_path: str | Path) -> AgentConfig:
    """The agent of ``rl/agents/<name>.yaml`` or of a YAML file path."""
    path = agent_path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(available_agents())) or "none"
        raise AgentConfigError(f"agent {str(name_or_path)!r} not found (known agents: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise AgentConfigError(f"{path}:{where} is not valid YAML") from None
    return parse_agent(data or {}, origin=str(path), name=path.stem)


def available_agents() -> list[str]:
    return sorted(p.stem for p in AGENTS_DIR.glob("*.yaml") if not p.stem.startswith("sweep"))
