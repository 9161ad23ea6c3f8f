"""Ensemble definitions: ``rl/ensembles/<name>.yaml``, validated by a typed model.

Example (``rl/ensembles/dow30_blend.yaml``)::

    description: DOW30 agents blended by validation Sharpe, capped at 10% a name
    members: [dow30_ppo, dow30_appo@2]     # name (its production version) or name@version
    rule: risk_capped                      # equal | sharpe | risk_capped
    base: sharpe                           # risk_capped only: equal (default) or sharpe
    max_weight: 0.10                       # default: TRADEWIND_MAX_WEIGHT
    gross_limit: 1.0
    enabled: true                          # false: skipped unless named with --model

The blend is ``sum_k c_k * w_k`` over the members' own weights for the session (``c`` equal, or
proportional to each member's validation Sharpe, never the test window's); ``risk_capped`` then
caps every name at ``max_weight`` and the gross at ``gross_limit``, the excess going to cash.
The result is written under the ensemble's name, with the members, their versions and their
coefficients recorded as an ensemble version (``signals.ensemble_versions``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

_MEMBER = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(@(?P<version>\d+))?$")


class EnsembleError(ValueError):
    """An ensemble file that cannot be used; one line naming the file and the problem."""


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """``"name"`` -> (name, None); ``"name@3"`` -> (name, 3)."""
    m = _MEMBER.match(ref.strip())
    if not m:
        raise ValueError(f"{ref!r} is not NAME or NAME@VERSION")
    return m["name"], int(m["version"]) if m["version"] else None


class EnsembleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    description: str = ""
    # A disabled ensemble is skipped by `signals generate` without --model (an example, or one
    # whose members are not trained yet); naming it with --model still generates it.
    enabled: bool = True
    members: tuple[str, ...] = Field(min_length=1)
    rule: Literal["equal", "sharpe", "risk_capped"] = "equal"
    base: Literal["equal", "sharpe"] = "equal"
    max_weight: float | None = Field(default=None, gt=0, le=1)
    gross_limit: float = Field(default=1.0, gt=0, le=1)

    @field_validator("members")
    @classmethod
    def _members(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        names = [parse_model_ref(m)[0] for m in v]
        if len(set(names)) != len(names):
            raise ValueError("a model appears twice among the members")
        return v

    @property
    def member_refs(self) -> list[tuple[str, int | None]]:
        return [parse_model_ref(m) for m in self.members]

    @property
    def coefficient_rule(self) -> str:
        return self.base if self.rule == "risk_capped" else self.rule


def load_ensemble(path: str | Path) -> EnsembleConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EnsembleError(f"{path}: {first}") from None
    if not isinstance(raw, dict):
        raise EnsembleError(f"{path}: expected a mapping of settings")
    try:
        return EnsembleConfig(**{**raw, "name": path.stem})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ())) or "file"
        msg = "unknown key" if err.get("type") == "extra_forbidden" else err.get("msg")
        raise EnsembleError(f"{path}: {loc}: {msg}") from None


def ensemble_files(folder: str | Path) -> dict[str, Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}
