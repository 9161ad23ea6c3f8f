"""Target weights for sessions T from the warehouse's features up to T.

One code path for one session and for a backfill: the features of every session of the range
(plus the observation window's warm-up) are read in one query per mart, prepared into the
environment's arrays by the environment's own code (``prepare_arrays``) and turned into
observations by the environment's own builder (``observation_at``); the policy then runs over
the sessions in order, each decision seeing the previous one as its "previous weights", exactly
as an evaluation episode of the environment does. Weights are mapped with the environment's
``target_weights``, checked, and written with the generation records and files in one
transaction.

The chain's start: the weights stored for the previous session by the same model version, or
all cash (the environment's initial state) when there are none, which is noted in the record.

Refusals (one line, nothing written): T is not a session; the features for T are missing,
stale (bars changed or arrived after the features were built) or incomplete for the model's
symbols that are members of its universe on T; not enough history for the window; the model's
symbols and its universe disagree (fewer than ``signals_min_universe_overlap`` of them are
members); invalid weights; a published file would change (``replace`` to allow).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradewind.signals import files as wf
from tradewind.signals import store
from tradewind.signals.ensembles import (
    EnsembleConfig,
    ensemble_files,
    load_ensemble,
    parse_model_ref,
)
from tradewind.signals.weights import Bounds, InvalidWeights, blend, cap_weights, validate

log = logging.getLogger(__name__)


class SignalRefused(ValueError):
    """Signals were not generated; the message is one line saying why (nothing was written)."""


# ------------------------------------------------------------------------------------ models
@dataclass
class ModelHandle:
    """A registered model version with its loaded policy (see ``tradewind.rl.artifacts``)."""

    name: str
    version: int
    policy: Any
    symbols: tuple[str, ...]
    features: tuple[str, ...]
    window: int
    env_config: Any  # tradewind.rl.env.EnvConfig
    universe: str | None
    artifact_uri: str = ""

    @property
    def bounds(self) -> Bounds:
        from tradewind.settings import get_settings

        cfg = self.env_config
        max_w = cfg.max_weight if cfg.max_weight is not None else get_settings().max_weight
        return Bounds(max_weight=float(max_w), long_short=bool(cfg.long_short),
                      gross_limit=float(cfg.gross_limit))  # fmt: skip


def _universe_of(policy: Any) -> str | None:
    agent = getattr(policy, "agent", None)
    for source in (agent, getattr(agent, "env", None), getattr(agent, "data", None)):
        u = getattr(source, "universe", None)
        if isinstance(u, str) and u:
            return u
    manifest = getattr(policy, "manifest", None) or {}
    u = manifest.get("universe")
    return u if isinstance(u, str) and u else None


def model_handle(url: str, name: str, version: int | None = None) -> ModelHandle:
    """Resolve ``name[@version]`` (production when None) in the registry and load its policy."""
    from tradewind.registry import RegistryError, resolve
    from tradewind.rl.artifacts import load_policy

    try:
        mv = resolve(url, name, version)
    except (LookupError, RegistryError) as exc:
        raise SignalRefused(str(exc).strip().splitlines()[0]) from None
    try:
        policy = load_policy(mv.artifact_uri)
    except (OSError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SignalRefused(
            f"{name}@{mv.version}: cannot load {mv.artifact_uri}: {first}"
        ) from None
    return ModelHandle(
        name=mv.model_name,
        version=int(mv.version),
        policy=policy,
        symbols=tuple(policy.symbols),
        features=tuple(policy.features),
        window=int(policy.window),
        env_config=policy.env_config,
        universe=_universe_of(policy),
        artifact_uri=mv.artifact_uri,
    )


# ------------------------------------------------------------------------ the pure chain
def run_chain(
    policy: Any,
    arrays: Any,
    indices: Sequence[int],
    window: int,
    masks: np.ndarray,
    action: Any,
    first_prev: np.ndarray,
) -> np.ndarray:
    """Decisions [S, N+1] (cash last) at session indices ``indices`` of ``arrays``.

    ``masks`` [S, N]: 1 where the asset may be held (else its weight is forced to 0);
    ``action``: the environment's ActionConfig; ``first_prev``: w_{T-1} of the first session.
    Each decision's observation carries the previous decision, as in the environment, so the
    decisions are made in order; a policy with ``over_windows`` (``LoadedPolicy``) encodes
    all the feature windows in one batch first and runs only its head per decision. Its
    decisions must be the plain ``policy(obs)``'s bit for bit: every ``CHECK_EVERY``-th one
    (which includes the first of every encoder chunk) and the last are checked, and on any
    difference the chain is redone the plain way.
    """
    from tradewind.rl.env import OBS_FEATURES, observation_at

    with _single_threaded_torch():
        windowed = None
        if hasattr(policy, "over_windows") and len(indices) > 1:
            feats = np.stack([observation_at(arrays, int(t), window, first_prev)[OBS_FEATURES]
                              for t in indices])  # fmt: skip
            windowed = policy.over_windows(feats)
        if windowed is not None:
            out, checked = _chain(windowed.decide, arrays, indices, window, masks, action,
                                  first_prev, check=windowed.matches)  # fmt: skip
            if checked:
                return out
        out, _ = _chain(lambda _i, obs: policy(obs), arrays, indices, window, masks, action,
                        first_prev)  # fmt: skip
        return out


def _chain(decide, arrays, indices, window, masks, action, first_prev, check=None):
    from tradewind.rl.core import target_weights
    from tradewind.rl.env import observation_at

    out = np.empty((len(indices), len(first_prev)))
    prev = np.asarray(first_prev, dtype=np.float64)
    to_check = set()
    if check is not None:
        to_check = {*range(0, len(indices), CHECK_EVERY), len(indices) - 1}
    for i, t in enumerate(indices):
        obs = observation_at(arrays, int(t), window, prev)
        if i in to_check and not check(i, obs):
            log.warning(
                "batched policy encoder differs from one observation at a time on %s; "
                "recomputing the chain one full forward pass per session",
                arrays.sessions[int(t)],
            )
            return out, False
        prev = target_weights(decide(i, obs), masks[i], action, prev)
        out[i] = prev
    return out, True


# One full forward pass per this many decisions checks the batched path (about 3 % more work).
CHECK_EVERY = 32


@contextlib.contextmanager
def _single_threaded_torch() -> Iterator[None]:
    """One intra-op thread while the policy runs one observation at a time.

    A forward pass on one observation is far too small to split: with torch's default of one
    thread per core, each small convolution waits for the other threads (10x slower measured on
    a busy 2-core machine: 15 ms instead of 1.5 ms). Restored afterwards.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------- session signals
@dataclass
class SessionSignals:
    """Weights of one model (or ensemble) for a run of sessions, before anything is written."""

    name: str
    version: int
    kind: str
    sessions: list[dt.date]
    symbols: tuple[str, ...]
    weights: np.ndarray  # [S, N], cash = 1 - sum
    bounds: Bounds
    features_through: dt.date | None
    reported: list[dict] = field(default_factory=list)  # one dict per session


def _previous_weights(conn, handle: ModelHandle, session: dt.date) -> tuple[np.ndarray, bool]:
    from tradewind.calendar import previous_session
    from tradewind.rl.env import initial_weights

    stored = store.stored_weights(conn, handle.name, handle.version, previous_session(session))
    if not stored:
        return initial_weights(handle.env_config, len(handle.symbols)), False
    assets = np.array([stored.get(s, 0.0) for s in handle.symbols])
    return np.r_[assets, 1.0 - assets.sum()], True


def model_signals(
    conn, handle: ModelHandle, sessions: Sequence[dt.date], *, min_overlap: float
) -> SessionSignals:
    """Check the inputs of every session and compute the weights (reads only)."""
    from tradewind.rl.data import load_market_data
    from tradewind.rl.env import prepare_arrays

    name, syms, first, last = handle.name, handle.symbols, sessions[0], sessions[-1]
    through = store.features_through(conn, syms)
    if through is None or through < last:
        late = store.bars_without_features(conn, syms, last, last)
        if late is not None:
            raise SignalRefused(
                f"{name}: features are stale: bars for {late[1]} are in the warehouse but the "
                f"features end at {through}; run `tradewind features build`"
            )
        raise SignalRefused(
            f"{name}: no features for {last} (features end at {through}); ingest the bars "
            "and run `tradewind features build`"
        )
    try:
        data = load_market_data(
            conn, list(syms), first, last, handle.features, warmup_sessions=handle.window - 1
        )
    except ValueError as exc:
        raise SignalRefused(f"{name}: {str(exc).splitlines()[0]}") from None
    loaded = [s.item() for s in data.sessions]
    index = {d: i for i, d in enumerate(loaded)}
    missing = [d for d in sessions if d not in index]
    if missing:
        raise SignalRefused(f"{name}: no features for {missing[0]} for any of its symbols")
    idx = [index[d] for d in sessions]
    if idx[0] < handle.window - 1:
        raise SignalRefused(
            f"{name}: not enough history for {sessions[0]}: the window needs "
            f"{handle.window} sessions of features, the warehouse has {idx[0] + 1}"
        )
    stale = store.features_out_of_date(conn, syms, loaded[idx[0] - handle.window + 1], last)
    if stale is None:
        stale = store.bars_without_features(conn, syms, loaded[idx[0] - handle.window + 1], last)
    if stale is not None:
        raise SignalRefused(
            f"{name}: features are stale: the bar of {stale[0]} on {stale[1]} changed or "
            "arrived after the features were built; run `tradewind features build`"
        )

    members = store.universe_members(conn, handle.universe, sessions) if handle.universe else None
    if handle.universe and members is None:
        from tradewind.universes import known_universes
        from tradewind.universes import members as builtin_members

        if handle.universe.upper() in known_universes():
            members = {d: set(builtin_members(handle.universe, d)) for d in sessions}
    masks = np.zeros((len(sessions), len(syms)))
    reported: list[dict] = []
    listed = data.listed
    for i, (day, t) in enumerate(zip(sessions, idx, strict=True)):
        member = np.ones(len(syms), bool)
        note: dict = {}
        if members is not None:
            now = members[day]
            member = np.array([s in now for s in syms])
            if member.mean() < min_overlap:
                raise SignalRefused(
                    f"{name}: its symbols and the universe {handle.universe} disagree on {day}: "
                    f"only {int(member.sum())} of {len(syms)} are members"
                )
            if not member.all():
                note["not_members"] = [s for s, m in zip(syms, member, strict=True) if not m]
            new = sorted(now - set(syms))
            if new:
                note["new_members"] = new
        absent = member & ~listed[t]
        if absent.any():
            lacking = [s for s, a in zip(syms, absent, strict=True) if a]
            raise SignalRefused(
                f"{name}: features for {day} are incomplete: no row for {', '.join(lacking[:5])}"
                + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
            )
        masks[i] = member & listed[t]
        reported.append(note)

    cfg = handle.env_config
    # Feature selection and clipping exactly as the environment prepares them.
    arrays = prepare_arrays(data, cfg, t_first=idx[0], t_last=idx[-1])
    kind = getattr(handle.policy, "action_kind", "scores")
    action = dataclasses.replace(cfg.action, kind=kind) if cfg.action.kind != kind else cfg.action
    first_prev, chained = _previous_weights(conn, handle, sessions[0])
    if not chained:
        reported[0]["chain"] = "started from the initial weights (no stored previous session)"
    decisions = run_chain(handle.policy, arrays, idx, handle.window, masks, action, first_prev)
    return SessionSignals(
        name=name,
        version=handle.version,
        kind="model",
        sessions=list(sessions),
        symbols=syms,
        weights=decisions[:, :-1],
        bounds=handle.bounds,
        features_through=through,
        reported=reported,
    )


# --------------------------------------------------------------------------- ensembles
def ensemble_signals(
    conn,
    url: str,
    config: EnsembleConfig,
    sessions: Sequence[dt.date],
    *,
    min_overlap: float,
    handles: dict[tuple[str, int | None], ModelHandle] | None = None,
) -> SessionSignals:
    from tradewind.settings import get_settings
    from tradewind.signals.weights import sharpe_coefficients

    handles = handles if handles is not None else {}
    parts: list[SessionSignals] = []
    for ref in config.member_refs:
        if ref not in handles:
            handles[ref] = model_handle(url, *ref)
        parts.append(model_signals(conn, handles[ref], sessions, min_overlap=min_overlap))
    if config.coefficient_rule == "sharpe":
        sharpes = []
        for p in parts:
            s = store.validation_sharpe(conn, p.name, p.version)
            if s is None:
                raise SignalRefused(
                    f"ensemble {config.name}: {p.name}@{p.version} has no validation Sharpe "
                    "in ml.evaluations (evaluate it first)"
                )
            sharpes.append(s)
        coef = sharpe_coefficients(sharpes)
    else:
        coef = np.full(len(parts), 1.0 / len(parts))
    symbols = tuple(sorted({s for p in parts for s in p.symbols}))
    col = {s: i for i, s in enumerate(symbols)}
    stacked = np.zeros((len(parts), len(sessions), len(symbols)))
    for k, p in enumerate(parts):
        stacked[k][:, [col[s] for s in p.symbols]] = p.weights
    weights = blend(stacked, coef)
    long_short = any(p.bounds.long_short for p in parts)
    max_w = config.max_weight or get_settings().max_weight
    if config.rule == "risk_capped":
        weights = cap_weights(weights, max_w, config.gross_limit)
        bounds = Bounds(max_w, long_short, config.gross_limit)
    else:
        # A plain blend can hold no more than its most permissive member allows.
        bounds = Bounds(
            max(p.bounds.max_weight for p in parts),
            long_short,
            max(p.bounds.gross_limit for p in parts),
        )
    members = [
        {"model": p.name, "version": p.version, "weight": float(c)}
        for p, c in zip(parts, coef, strict=True)
    ]
    version = store.ensemble_version(conn, config.name, config.rule, members)
    reported = [{"members": members} for _ in sessions]
    for p in parts:
        for i, note in enumerate(p.reported):
            if note:
                reported[i].setdefault("member_notes", {})[p.name] = note
    throughs = [p.features_through for p in parts if p.features_through]
    return SessionSignals(
        name=config.name,
        version=version,
        kind="ensemble",
        sessions=list(sessions),
        symbols=symbols,
        weights=weights,
        bounds=bounds,
        features_through=min(throughs) if throughs else None,
        reported=reported,
    )


# ---------------------------------------------------------------------------- writing
@dataclass
class GenerationResult:
    """What one model's (or ensemble's) generation did, for printing and for callers."""

    model: str
    version: int | None
    kind: str
    sessions: list[dt.date]
    status: str  # written | unchanged | refused
    message: str = ""
    rows_changed: int = 0
    files: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    reported: list[dict] = field(default_factory=list)

    def line(self) -> str:
        who = f"{self.model}@{self.version}" if self.version is not None else self.model
        span = (
            f"{self.sessions[0]}"
            if len(self.sessions) == 1
            else f"{self.sessions[0]}..{self.sessions[-1]} ({len(self.sessions)} sessions)"
        )
        if self.status == "refused":
            return f"{who} {span}: refused: {self.message}"
        notes = sorted({k for r in self.reported for k in r if k != "members"})
        extra = f"; reported: {', '.join(notes)}" if notes else ""
        return (
            f"{who} {span}: {self.status}, {self.rows_changed} weight rows changed, "
            f"{len(self.files)} files, {self.elapsed_s:.2f}s{extra}"
        )


def publish(
    conn,
    sig: SessionSignals,
    dest: wf.WeightsDestination,
    *,
    run_id: uuid.UUID,
    mode: str,
    started: float,
    replace: bool = False,
) -> GenerationResult:
    """Validate, compare with the published files, then write rows, records and files."""
    from tradewind.calendar import session_close_utc

    try:
        validate(sig.weights, sig.symbols, sig.bounds, f"{sig.name}@{sig.version}")
    except InvalidWeights as exc:
        raise SignalRefused(str(exc)) from None
    names = [wf.session_file_name(day) for day in sig.sessions]
    blocks = dict(zip(sig.sessions, wf.format_sessions(sig.sessions, sig.symbols, sig.weights),
                      strict=True))  # fmt: skip
    published = dict(zip(sig.sessions, dest.read_many(sig.name, names), strict=True))
    for day, name in zip(sig.sessions, names, strict=True):
        old = published[day]
        if old is not None and old != blocks[day] and not replace:
            raise SignalRefused(
                f"{sig.name}: {dest.uri(sig.name, name)} is already "
                f"published with other weights; pass --replace to overwrite it"
            )
    changed = store.write_weights(conn, sig.name, sig.version, sig.sessions, sig.symbols,
                                  sig.weights)  # fmt: skip
    dest.write_many(
        sig.name,
        [(name, blocks[day]) for day, name in zip(sig.sessions, names, strict=True)
         if published[day] != blocks[day]],
    )  # fmt: skip
    uris = [dest.uri(sig.name, name) for name in names]
    old_history = dest.read_bytes(sig.name, wf.HISTORY_NAME)
    history = wf.merge_history(old_history, blocks)
    if old_history != history:
        dest.write_atomic(sig.name, wf.HISTORY_NAME, history)
    elapsed = time.monotonic() - started
    now = dt.datetime.now(dt.UTC)
    status = "written" if changed else "unchanged"
    store.log_generations(
        conn,
        [
            {
                "run_id": run_id,
                "model_name": sig.name,
                "model_version": sig.version,
                "kind": sig.kind,
                "as_of_session": day,
                "status": status,
                "message": None,
                "mode": mode,
                "sessions_in_run": len(sig.sessions),
                "features_through": sig.features_through,
                "delay_seconds": (now - session_close_utc(day)).total_seconds(),
                "elapsed_ms": elapsed * 1e3,
                "n_symbols": len(sig.symbols),
                "gross_weight": float(np.abs(w).sum()),
                "reported": note,
                "file_uri": uri,
                "file_sha256": wf.sha256(blocks[day]),
            }
            for day, w, note, uri in zip(sig.sessions, sig.weights, sig.reported, uris, strict=True)
        ],
    )
    return GenerationResult(
        sig.name, sig.version, sig.kind, list(sig.sessions), status, "", changed,
        uris + [dest.uri(sig.name, wf.HISTORY_NAME)], elapsed, sig.reported,
    )  # fmt: skip


# ------------------------------------------------------------------------- entry point
def session_range(
    date: Any = None, start: Any = None, end: Any = None
) -> tuple[list[dt.date], str]:
    from tradewind.calendar import is_session, sessions, to_date

    if date is not None:
        if start is not None or end is not None:
            raise SignalRefused("give either --date or --start/--end, not both")
        day = to_date(date)
        if not is_session(day):
            raise SignalRefused(f"{day} is not a NYSE trading session")
        return [day], "session"
    if start is None or end is None:
        raise SignalRefused("give --date T, or --start A and --end B")
    a, b = to_date(start), to_date(end)
    if b < a:
        raise SignalRefused(f"--end {b} is before --start {a}")
    days = sessions(a, b)
    if not days:
        raise SignalRefused(f"no NYSE trading session between {a} and {b}")
    return list(days), "backfill"


def _targets(url: str, model: str | None, settings) -> list[tuple[str, Any]]:
    """[(kind, what)]: ("model", (name, version)) or ("ensemble", EnsembleConfig)."""
    found = ensemble_files(settings.ensembles_dir)
    if model is not None:
        name, version = parse_model_ref(model)
        if name in found:
            if version is not None:
                raise SignalRefused(f"{name} is an ensemble: it takes no @version")
            return [("ensemble", load_ensemble(found[name]))]
        return [("model", (name, version))]
    from tradewind.registry import production_models

    targets: list[tuple[str, Any]] = [
        ("model", (mv.model_name, int(mv.version))) for mv in production_models(url)
    ]
    ensembles = [load_ensemble(p) for p in found.values()]
    targets += [("ensemble", e) for e in ensembles if e.enabled]
    if not targets:
        raise SignalRefused(
            "no production model and no ensemble: promote a model (tradewind models promote) "
            "or name one with --model"
        )
    return targets


def generate(
    url: str | None = None,
    *,
    date: Any = None,
    start: Any = None,
    end: Any = None,
    model: str | None = None,
    weights_dir: str | None = None,
    replace: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> list[GenerationResult]:
    """Generate (and publish) target weights; one result per model or ensemble.

    With ``model`` (``NAME``, ``NAME@V`` or an ensemble's name) a refusal raises
    :class:`SignalRefused`; without it every production model and every ensemble is generated
    and a refusal of one is returned as a ``refused`` result (and recorded) while the others go
    on.
    """
    from tradewind.db import connect, warehouse_url
    from tradewind.settings import get_settings

    settings = get_settings()
    url = url or warehouse_url(settings)
    sessions, mode = session_range(date, start, end)
    dest = wf.WeightsDestination(weights_dir or settings.resolved_weights_dir())
    targets = _targets(url, model, settings)
    handles: dict[tuple[str, int | None], ModelHandle] = {}
    results: list[GenerationResult] = []
    for kind, what in targets:
        started = time.monotonic()
        run_id = uuid.uuid4()
        label = what.name if kind == "ensemble" else what[0]
        if on_progress:
            on_progress(f"{label}: {len(sessions)} session(s) {sessions[0]}..{sessions[-1]}")
        version: int | None = None
        try:
            with connect(url) as conn:
                with conn.transaction():
                    if kind == "model":
                        if what not in handles:
                            handles[what] = model_handle(url, *what)
                        version = handles[what].version
                        sig = model_signals(
                            conn, handles[what], sessions,
                            min_overlap=settings.signals_min_universe_overlap,
                        )  # fmt: skip
                    else:
                        sig = ensemble_signals(
                            conn, url, what, sessions,
                            min_overlap=settings.signals_min_universe_overlap, handles=handles,
                        )  # fmt: skip
                        version = sig.version
                    result = publish(conn, sig, dest, run_id=run_id, mode=mode,
                                     started=started, replace=replace)  # fmt: skip
        except SignalRefused as exc:
            message = str(exc)
            _log_refusal(url, run_id, label, version, kind, sessions, mode, message, started)
            if model is not None:
                raise
            result = GenerationResult(label, version, kind, sessions, "refused", message)
        results.append(result)
        if on_progress:
            on_progress(result.line())
    return results


def _log_refusal(url, run_id, name, version, kind, sessions, mode, message, started) -> None:
    """A refusal writes no weights and no file, only its record (so missing signals show)."""
    from tradewind.db import transaction

    elapsed = (time.monotonic() - started) * 1e3
    with transaction(url) as conn:
        store.log_generations(
            conn,
            [
                {
                    "run_id": run_id, "model_name": name, "model_version": version,
                    "kind": kind, "as_of_session": day, "status": "refused",
                    "message": message, "mode": mode, "sessions_in_run": len(sessions),
                    "elapsed_ms": elapsed,
                }
                for day in sessions
            ],
        )  # fmt: skip
