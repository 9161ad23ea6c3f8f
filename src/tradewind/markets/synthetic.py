"""Seeded synthetic multi-asset daily OHLCV markets (pure numpy).

Three return models share one bar builder:

- ``gbm``: correlated geometric Brownian motion, per-asset drift and volatility, optional
  Merton jumps (Poisson count, normal log size, drift-compensated so ``drift`` stays the
  expected arithmetic return);
- ``regime``: the same with a Markov chain over regimes (calm / volatile / crash by default)
  that shift drift, scale volatility, raise correlation and scale jump intensity;
- ``bootstrap``: stationary or moving-block bootstrap of a given ``(T, N)`` matrix of daily log
  returns; every block is a contiguous slice of the source taken for all assets at once, so
  cross-sectional correlation and short-range dependence survive.

Any model can *plant* extra drift into one asset (an agent should learn to hold it).

Bars: each session's close-to-close log return ``r = g + d`` is split into an overnight gap
``g`` (close[T-1] -> open[T], where jumps land) and an intraday move ``d`` (open -> close).
High and low are the maximum and minimum of a Brownian bridge from open to close with the
intraday volatility, sampled exactly, so ``low <= min(open, close) <= max(open, close) <= high``
holds by construction (and is enforced once more after rounding). Volume is log-normal around a
per-asset base and rises with ``|r|`` in units of the asset's base daily volatility, so volatile
regimes trade more. ``vwap`` lies in ``[low, high]`` and ``trade_count`` in ``[1, volume]``.

Randomness: every draw comes from a ``numpy.random.Generator``. ``config.seed`` fixes the
market's *structure* (random correlation when none is given, initial prices, base volumes);
paths come from the generator passed in, or one built from ``config.seed``. The same seed and
generator state give identical output.

All rates are annual (``drift``, ``vol``, ``jump_intensity`` in jumps per year) over 252
sessions a year; jump sizes are daily log returns.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from tradewind import calendar

TRADING_DAYS = 252.0
FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
BAR_COLUMNS: tuple[str, ...] = (
    "symbol",
    "session",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trade_count",
)
OPEN, HIGH, LOW, CLOSE, VOLUME = range(5)

DEMO_START = date(2008, 1, 1)
DEMO_END = date(2020, 12, 31)

# Members of the Dow Jones Industrial Average after the 2020-08-31 change.
DOW30_2020: tuple[str, ...] = (
    "AAPL", "AMGN", "AXP", "BA", "CAT", "CRM", "CSCO", "CVX", "DIS", "DOW",
    "GS", "HD", "HON", "IBM", "INTC", "JNJ", "JPM", "KO", "MCD", "MMM",
    "MRK", "MSFT", "NKE", "PG", "TRV", "UNH", "V", "VZ", "WBA", "WMT",
)  # fmt: skip

# Log prices are clipped to this band before exponentiation so no price can reach 0 or inf
# under extreme parameters; the clip is monotone, so OHLC ordering survives it.
_LOG_PRICE_BOUND = 300.0
# |standardised return| above this no longer raises volume (a crash day is not infinite volume).
_VOLUME_Z_CAP = 12.0
_E_ABS_NORMAL = math.sqrt(2.0 / math.pi)

Model = Literal["gbm", "regime", "bootstrap"]
BootstrapMethod = Literal["stationary", "moving"]


@dataclass(frozen=True)
class Regime:
    """One state of the regime chain, applied on top of the per-asset parameters.

    ``drift_shift`` is added to every asset's annual drift, ``vol_scale`` multiplies every
    volatility, ``correlation_boost`` b in [0, 1) moves the correlation matrix towards all-ones
    (``(1 - b) C + b``: crashes are correlated), ``jump_scale`` multiplies the jump intensity.
    """

    name: str
    drift_shift: float = 0.0
    vol_scale: float = 1.0
    correlation_boost: float = 0.0
    jump_scale: float = 1.0


DEFAULT_REGIMES: tuple[Regime, ...] = (
    Regime("calm", drift_shift=0.05, vol_scale=0.8),
    Regime("volatile", drift_shift=-0.05, vol_scale=1.6, correlation_boost=0.2, jump_scale=2.0),
    Regime("crash", drift_shift=-1.2, vol_scale=3.0, correlation_boost=0.5, jump_scale=4.0),
)
# Daily transition probabilities (rows: from, columns: to). Expected stays: calm ~286 sessions,
# volatile ~59, crash 40; stationary shares ~80% / 18% / 2%, so the drift shifts average out
# to ~0 and a 13-year path sees a 2008-like crash about every other draw or more.
DEFAULT_TRANSITIONS: tuple[tuple[float, ...], ...] = (
    (0.9965, 0.0033, 0.0002),
    (0.0150, 0.9830, 0.0020),
    (0.0050, 0.0200, 0.9750),
)


@dataclass(frozen=True, eq=False)
class SyntheticMarketConfig:
    """Everything that defines a synthetic market; see the module docstring for units.

    ``n_assets`` defaults to the length of ``symbols`` / per-asset ``drift`` / the bootstrap
    source, else 30. ``symbols`` defaults to the 2020 Dow 30 tickers (first ``n_assets``) when
    ``n_assets <= 30``, else ``SYN000``, ``SYN001``, ... ``correlation``: a float is an
    equicorrelation, a matrix is used as given, ``None`` draws a random factor-model matrix
    (market factor plus sectors, pairwise ~0.2-0.6) from ``seed``.
    """

    model: Model = "gbm"
    n_assets: int | None = None
    symbols: Sequence[str] | None = None
    drift: float | Sequence[float] = 0.07
    vol: float | Sequence[float] = 0.25
    correlation: float | Sequence[Sequence[float]] | np.ndarray | None = 0.4
    jump_intensity: float = 0.0
    jump_mean: float = -0.02
    jump_std: float = 0.05
    regimes: Sequence[Regime] = DEFAULT_REGIMES
    transitions: Sequence[Sequence[float]] = DEFAULT_TRANSITIONS
    # None: draw the first regime from the chain's stationary distribution.
    initial_regime: int | str | None = None
    bootstrap_returns: np.ndarray | None = None
    block_length: float = 20.0
    bootstrap_method: BootstrapMethod = "stationary"
    planted_asset: int | str | None = None
    planted_drift: float = 0.3
    # Share of daily return variance that arrives overnight (gap close[T-1] -> open[T]).
    overnight_share: float = 0.25
    initial_price: float | Sequence[float] | None = None
    base_volume: float | Sequence[float] | None = None
    # Volume: log-volume noise std, and log-volume increase per unit of |standardised return|.
    volume_noise: float = 0.3
    volume_sensitivity: float = 0.35
    mean_trade_size: float = 150.0
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.model not in ("gbm", "regime", "bootstrap"):
            raise ValueError(f"model must be 'gbm', 'regime' or 'bootstrap', got {self.model!r}")
        if self.bootstrap_method not in ("stationary", "moving"):
            raise ValueError(
                f"bootstrap_method must be 'stationary' or 'moving', got {self.bootstrap_method!r}"
            )
        if self.model == "bootstrap" and self.bootstrap_returns is None:
            raise ValueError("model='bootstrap' needs bootstrap_returns, a (T, N) log-return array")
        if not 0.0 <= self.overnight_share < 1.0:
            raise ValueError("overnight_share must be in [0, 1)")
        if self.block_length < 1.0:
            raise ValueError("block_length must be >= 1")
        if self.jump_intensity < 0 or self.jump_std < 0:
            raise ValueError("jump_intensity and jump_std must be >= 0")
        if self.mean_trade_size < 1:
            raise ValueError("mean_trade_size must be >= 1 share")
        if self.n_assets is not None and self.n_assets < 1:
            raise ValueError("n_assets must be >= 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyntheticMarketConfig:
        """Build from plain data (YAML/JSON): regimes as mappings, lists for arrays."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown synthetic market option(s): {sorted(unknown)}")
        kwargs = dict(data)
        if "regimes" in kwargs:
            kwargs["regimes"] = tuple(
                r if isinstance(r, Regime) else Regime(**r) for r in kwargs["regimes"]
            )
        if kwargs.get("bootstrap_returns") is not None:
            kwargs["bootstrap_returns"] = np.asarray(kwargs["bootstrap_returns"], dtype=float)
        return cls(**kwargs)


class SyntheticArrays(NamedTuple):
    """The fast API's result: ``bars[t, i, :]`` is (open, high, low, close, volume)."""

    sessions: np.ndarray  # datetime64[D], real NYSE sessions
    symbols: tuple[str, ...]
    bars: np.ndarray  # float64 (T, N, 5), field order FIELDS


@dataclass(frozen=True)
class Simulation:
    """One simulated path with its by-products (useful for tests and diagnostics)."""

    bars: np.ndarray  # (T, N, 5) float64, field order FIELDS; volume holds whole numbers
    log_returns: np.ndarray  # (T, N) close-to-close log returns, close[-1] = initial price
    regimes: np.ndarray  # (T,) regime index per session (0 for gbm and bootstrap)
    source_index: np.ndarray | None  # (T,) bootstrap source row per session


# --------------------------------------------------------------------------------------------
# correlation helpers


def equicorrelation(n: int, rho: float) -> np.ndarray:
    """n x n matrix with ones on the diagonal and ``rho`` elsewhere."""
    if not -1.0 / max(n - 1, 1) < rho < 1.0 and n > 1:
        raise ValueError(f"equicorrelation {rho} is not positive definite for {n} assets")
    c = np.full((n, n), float(rho))
    np.fill_diagonal(c, 1.0)
    return c


def factor_correlation(
    market_loadings: np.ndarray, sectors: np.ndarray, sector_loadings: np.ndarray
) -> np.ndarray:
    """Correlation of a one-market-factor plus one-factor-per-sector model.

    ``corr(i, j) = b_i b_j + [sector_i == sector_j] s_i s_j`` off the diagonal; the rest of
    each asset's variance is idiosyncratic, so ``b_i^2 + s_i^2 < 1`` is required.
    """
    b = np.asarray(market_loadings, dtype=float)
    s = np.asarray(sector_loadings, dtype=float)
    sec = np.asarray(sectors)
    if np.any(b**2 + s**2 >= 1.0):
        raise ValueError("factor loadings leave no idiosyncratic variance (b^2 + s^2 >= 1)")
    c = np.outer(b, b) + (sec[:, None] == sec[None, :]) * np.outer(s, s)
    np.fill_diagonal(c, 1.0)
    return c


def random_factor_correlation(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random but plausible equity correlation matrix (pairwise ~0.2-0.6)."""
    n_sectors = max(1, min(8, n // 4))
    return factor_correlation(
        rng.uniform(0.45, 0.7, n), rng.integers(0, n_sectors, n), rng.uniform(0.2, 0.45, n)
    )


def _cholesky(c: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError as exc:
        raise ValueError("correlation matrix is not positive definite") from exc


def stationary_distribution(transitions: np.ndarray) -> np.ndarray:
    """Stationary distribution of a row-stochastic transition matrix."""
    p = np.asarray(transitions, dtype=float)
    k = p.shape[0]
    # Solve pi (P - I) = 0 with sum(pi) = 1 as a least-squares system (robust to near-ties).
    a = np.vstack([(p - np.eye(k)).T, np.ones(k)])
    b = np.zeros(k + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


# --------------------------------------------------------------------------------------------
# bootstrap


def bootstrap_indices(
    n: int,
    n_source: int,
    block_length: float,
    method: BootstrapMethod,
    rng: np.random.Generator,
) -> np.ndarray:
    """Source row for each of ``n`` output rows, made of contiguous source blocks.

    ``moving``: blocks of exactly ``round(block_length)`` rows (the last one cut at ``n``).
    ``stationary``: geometric block lengths with mean ``block_length`` (Politis-Romano), each
    cut to the source length. Blocks never wrap around the end of the source, so each one is
    a contiguous slice ``source[s : s + len]``.
    """
    if n_source < 1:
        raise ValueError("bootstrap source has no rows")
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if method == "moving":
        length = int(min(max(round(block_length), 1), n_source))
        n_blocks = -(-n // length)
        starts = rng.integers(0, n_source - length + 1, n_blocks)
        return (starts[:, None] + np.arange(length)).ravel()[:n]
    if method != "stationary":
        raise ValueError(f"unknown bootstrap method {method!r}")
    p = 1.0 / float(block_length)
    lengths = np.empty(0, dtype=np.int64)
    while lengths.sum() < n:
        more = rng.geometric(p, size=max(8, int(2 * n * p) + 8))
        lengths = np.concatenate([lengths, np.minimum(more, n_source)])
    n_blocks = int(np.searchsorted(np.cumsum(lengths), n)) + 1
    lengths = lengths[:n_blocks]
    starts = (rng.random(n_blocks) * (n_source - lengths + 1)).astype(np.int64)
    block_begin = np.cumsum(lengths) - lengths
    return (np.arange(lengths.sum()) + np.repeat(starts - block_begin, lengths))[:n]


# --------------------------------------------------------------------------------------------
# the compiled market


def _per_asset(value: float | Sequence[float] | np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} has {arr.size} values for {n} assets")
    return arr.copy()


def _resolve_n_assets(config: SyntheticMarketConfig) -> int:
    candidates: dict[str, int] = {}
    if config.symbols is not None:
        candidates["symbols"] = len(config.symbols)
    for name in ("drift", "vol", "initial_price", "base_volume"):
        value = getattr(config, name)
        if value is not None and np.ndim(value) == 1:
            candidates[name] = len(value)
    if config.correlation is not None and np.ndim(config.correlation) == 2:
        candidates["correlation"] = np.shape(config.correlation)[0]
    if config.model == "bootstrap" and config.bootstrap_returns is not None:
        candidates["bootstrap_returns"] = np.shape(config.bootstrap_returns)[1]
    if config.n_assets is not None:
        candidates["n_assets"] = config.n_assets
    sizes = set(candidates.values())
    if len(sizes) > 1:
        raise ValueError(f"inconsistent numbers of assets: {candidates}")
    return sizes.pop() if sizes else 30


def default_symbols(n: int) -> tuple[str, ...]:
    """Dow 30 (2020) tickers for up to 30 assets, else SYN000, SYN001, ..."""
    if n <= len(DOW30_2020):
        return DOW30_2020[:n]
    return tuple(f"SYN{i:03d}" for i in range(n))


class SyntheticMarket:
    """A config resolved into arrays once; :meth:`simulate` is then cheap to call repeatedly.

    The RL environment's synthetic mode keeps one instance and calls ``simulate`` (or
    ``paths``) with its own generator on every reset.
    """

    def __init__(self, config: SyntheticMarketConfig) -> None:
        self.config = config
        n = _resolve_n_assets(config)
        self.n_assets = n
        self.symbols: tuple[str, ...] = (
            tuple(str(s) for s in config.symbols)
            if config.symbols is not None
            else default_symbols(n)
        )
        if len(set(self.symbols)) != n:
            raise ValueError("symbols must be unique")
        structure_rng = np.random.default_rng(
            None if config.seed is None else np.random.SeedSequence([config.seed, 0x5EED])
        )

        self.drift = _per_asset(config.drift, n, "drift")
        self.vol = _per_asset(config.vol, n, "vol")
        if np.any(self.vol < 0):
            raise ValueError("vol must be >= 0")
        if config.planted_asset is not None:
            self.planted_index = self._asset_index(config.planted_asset)
            self.drift[self.planted_index] += config.planted_drift
        else:
            self.planted_index = None

        if config.correlation is None:
            corr = random_factor_correlation(n, structure_rng)
        elif np.ndim(config.correlation) == 0:
            corr = equicorrelation(n, float(config.correlation))  # type: ignore[arg-type]
        else:
            corr = np.array(config.correlation, dtype=float)
            if corr.shape != (n, n) or not np.allclose(corr, corr.T):
                raise ValueError(f"correlation must be a symmetric {n}x{n} matrix")
            if not np.allclose(np.diag(corr), 1.0):
                raise ValueError("correlation must have ones on its diagonal")
        _cholesky(corr)
        self.correlation = corr

        self.initial_price = (
            np.exp(structure_rng.uniform(math.log(20.0), math.log(300.0), n))
            if config.initial_price is None
            else _per_asset(config.initial_price, n, "initial_price")
        )
        if np.any(self.initial_price <= 0):
            raise ValueError("initial_price must be > 0")
        self.base_volume = (
            np.exp(structure_rng.normal(math.log(5e6), 0.7, n))
            if config.base_volume is None
            else _per_asset(config.base_volume, n, "base_volume")
        )
        if np.any(self.base_volume <= 0):
            raise ValueError("base_volume must be > 0")
        self.trade_size = config.mean_trade_size * np.exp(structure_rng.normal(0.0, 0.3, n))

        if config.model == "regime":
            self.regimes = tuple(config.regimes)
            p = np.asarray(config.transitions, dtype=float)
            k = len(self.regimes)
            if k == 0:
                raise ValueError("model='regime' needs at least one regime")
            if p.shape != (k, k) or np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0):
                raise ValueError(f"transitions must be a {k}x{k} row-stochastic matrix")
            self.transitions = p
        else:
            self.regimes = (Regime("base"),)
            self.transitions = np.ones((1, 1))
        self.stationary = stationary_distribution(self.transitions)
        self.initial_regime = (
            None if config.initial_regime is None else self._regime_index(config.initial_regime)
        )
        # Python lists: the chain is stepped in a plain loop, where bisect on a list beats
        # numpy scalar indexing by an order of magnitude.
        self._cum_transitions = [list(np.cumsum(row)) for row in self.transitions]

        dt = 1.0 / TRADING_DAYS
        kappa = math.exp(config.jump_mean + 0.5 * config.jump_std**2) - 1.0
        self._mu, self._sigma, self._chol, self._jump_rate = [], [], [], []
        for regime in self.regimes:
            if not 0.0 <= regime.correlation_boost < 1.0:
                raise ValueError(f"regime {regime.name}: correlation_boost must be in [0, 1)")
            sigma = self.vol * regime.vol_scale
            rate = config.jump_intensity * regime.jump_scale
            # Ito and jump compensation keep E[close_T / close_{T-1}] = exp((drift+shift) dt).
            mu = (self.drift + regime.drift_shift - 0.5 * sigma**2 - rate * kappa) * dt
            c_k = (1.0 - regime.correlation_boost) * corr + regime.correlation_boost
            self._mu.append(mu)
            self._sigma.append(sigma * math.sqrt(dt))
            self._chol.append(_cholesky(c_k))
            self._jump_rate.append(rate * dt)
        # Base daily volatility: the yardstick for "large move" in the volume model.
        self._base_daily_vol = np.maximum(self.vol * math.sqrt(dt), 1e-12)

        if config.model == "bootstrap":
            src = np.asarray(config.bootstrap_returns, dtype=float)
            if src.ndim != 2 or src.shape[1] != n or src.shape[0] < 1:
                raise ValueError(f"bootstrap_returns must be a (T, {n}) array")
            if not np.all(np.isfinite(src)):
                raise ValueError("bootstrap_returns must be finite (drop or fill missing rows)")
            self._source = src
            self._source_mean = src.mean(axis=0)
            std = src.std(axis=0)
            self._base_daily_vol = np.maximum(std, 1e-12)
            self._planted_daily = np.zeros(n)
            if self.planted_index is not None:
                self._planted_daily[self.planted_index] = config.planted_drift * dt

    def _asset_index(self, asset: int | str) -> int:
        if isinstance(asset, str):
            if asset not in self.symbols:
                raise ValueError(f"planted asset {asset!r} is not one of the symbols")
            return self.symbols.index(asset)
        if not 0 <= asset < self.n_assets:
            raise ValueError(f"planted asset index {asset} out of range 0..{self.n_assets - 1}")
        return int(asset)

    def _regime_index(self, regime: int | str) -> int:
        names = [r.name for r in self.regimes]
        if isinstance(regime, str):
            if regime not in names:
                raise ValueError(f"unknown regime {regime!r}; regimes: {names}")
            return names.index(regime)
        if not 0 <= regime < len(names):
            raise ValueError(f"regime index {regime} out of range for {names}")
        return int(regime)

    # ----------------------------------------------------------------------------------------

    def _regime_path(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = len(self.regimes)
        if k == 1:
            return np.zeros(n, dtype=np.int64)
        u = rng.random(n + 1).tolist()
        if self.initial_regime is None:
            state = bisect.bisect_right(np.cumsum(self.stationary).tolist(), u[0])
        else:
            state = self.initial_regime
        state = min(state, k - 1)
        cum = self._cum_transitions
        path = [0] * n
        for t in range(n):
            path[t] = state
            state = min(bisect.bisect_right(cum[state], u[t + 1]), k - 1)
        return np.asarray(path, dtype=np.int64)

    def _parametric_returns(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Gap, intraday move, their sum, intraday daily vol (all (T, N)) and regime path."""
        phi = self.config.overnight_share
        regimes = self._regime_path(n, rng)
        z = rng.standard_normal((n, 2, self.n_assets))
        if len(self.regimes) == 1:
            z = z @ self._chol[0].T
            mu = np.broadcast_to(self._mu[0], (n, self.n_assets))
            sigma = np.broadcast_to(self._sigma[0], (n, self.n_assets))
            jump_rate = np.full(n, self._jump_rate[0])
        else:
            mu = np.stack(self._mu)[regimes]
            sigma = np.stack(self._sigma)[regimes]
            jump_rate = np.asarray(self._jump_rate)[regimes]
            for k, chol in enumerate(self._chol):
                rows = regimes == k
                if rows.any():
                    z[rows] = z[rows] @ chol.T
        gap = phi * mu + math.sqrt(phi) * sigma * z[:, 0]
        intraday = (1.0 - phi) * mu + math.sqrt(1.0 - phi) * sigma * z[:, 1]
        if self.config.jump_intensity > 0:
            counts = rng.poisson(np.broadcast_to(jump_rate[:, None], (n, self.n_assets)))
            sizes = rng.standard_normal((n, self.n_assets))
            # Sum of `counts` iid normal log jumps; jumps are news, so they land overnight.
            gap = (
                gap
                + counts * self.config.jump_mean
                + np.sqrt(counts) * (self.config.jump_std * sizes)
            )
        return gap, intraday, gap + intraday, math.sqrt(1.0 - phi) * sigma, regimes

    def _bootstrap_returns(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Gap, intraday, total return, intraday vol and source rows of a bootstrapped path."""
        phi = self.config.overnight_share
        idx = bootstrap_indices(
            n, self._source.shape[0], self.config.block_length, self.config.bootstrap_method, rng
        )
        r = self._source[idx] + self._planted_daily
        # Split each source return into gap + intraday with the gap's share of variance phi:
        # gap = phi r + e, e ~ N(0, phi (1 - phi) s^2) gives Var(gap) = phi s^2 and leaves
        # close-to-close returns exactly equal to the source rows.
        noise = rng.standard_normal((n, self.n_assets))
        gap = phi * r + math.sqrt(phi * (1.0 - phi)) * self._base_daily_vol * noise
        intraday = r - gap
        vol_in = np.broadcast_to(math.sqrt(1.0 - phi) * self._base_daily_vol, (n, self.n_assets))
        return gap, intraday, r, vol_in, idx

    def simulate(self, n_sessions: int, rng: np.random.Generator | None = None) -> Simulation:
        """Simulate ``n_sessions`` consecutive sessions of bars for all assets."""
        if n_sessions < 0:
            raise ValueError("n_sessions must be >= 0")
        if rng is None:
            rng = np.random.default_rng(self.config.seed)
        n, m = int(n_sessions), self.n_assets
        source_index = None
        if self.config.model == "bootstrap":
            gap, intraday, log_returns, vol_in, source_index = self._bootstrap_returns(n, rng)
            regimes = np.zeros(n, dtype=np.int64)
        else:
            gap, intraday, log_returns, vol_in, regimes = self._parametric_returns(n, rng)

        log_close = np.log(self.initial_price) + np.cumsum(log_returns, axis=0)
        prev_close = np.empty_like(log_close)
        prev_close[:1] = np.log(self.initial_price)
        prev_close[1:] = log_close[:-1]
        log_open = prev_close + gap

        # Exact Brownian-bridge extremes of a path from 0 to d with variance s^2:
        # P(max > x) = exp(-2 x (x - d) / s^2), so max = (d + sqrt(d^2 + 2 s^2 E)) / 2 with
        # E ~ Exp(1); the minimum mirrors it. max >= max(0, d) and min <= min(0, d) always.
        e = rng.standard_exponential((2, n, m))
        var_in = vol_in * vol_in
        up = 0.5 * (intraday + np.sqrt(intraday * intraday + 2.0 * var_in * e[0]))
        down = 0.5 * (intraday - np.sqrt(intraday * intraday + 2.0 * var_in * e[1]))

        bars = np.empty((n, m, 5))
        lo, hi = -_LOG_PRICE_BOUND, _LOG_PRICE_BOUND
        bars[..., OPEN] = np.exp(np.clip(log_open, lo, hi))
        bars[..., CLOSE] = np.exp(np.clip(log_close, lo, hi))
        bars[..., HIGH] = np.exp(np.clip(log_open + up, lo, hi))
        bars[..., LOW] = np.exp(np.clip(log_open + down, lo, hi))
        # open + d and the cumulated close differ by rounding: restore the order exactly.
        np.maximum(
            bars[..., HIGH], np.maximum(bars[..., OPEN], bars[..., CLOSE]), out=bars[..., HIGH]
        )
        np.minimum(
            bars[..., LOW], np.minimum(bars[..., OPEN], bars[..., CLOSE]), out=bars[..., LOW]
        )

        centre = self._source_mean if self.config.model == "bootstrap" else 0.0
        zabs = np.minimum(np.abs(log_returns - centre) / self._base_daily_vol, _VOLUME_Z_CAP)
        log_volume = (
            np.log(self.base_volume)
            + self.config.volume_sensitivity * (zabs - _E_ABS_NORMAL)
            + self.config.volume_noise * rng.standard_normal((n, m))
        )
        bars[..., VOLUME] = np.maximum(np.rint(np.exp(np.minimum(log_volume, 40.0))), 1.0)
        return Simulation(bars, log_returns, regimes, source_index)

    def paths(self, n_sessions: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Just the ``(T, N, 5)`` bars of :meth:`simulate`."""
        return self.simulate(n_sessions, rng).bars

    def vwap_and_trades(
        self, bars: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """VWAP in [low, high] and an integer trade count in [1, volume] for given bars."""
        o, h, lo, c, v = (bars[..., i] for i in range(5))
        rng_width = h - lo
        typical = 0.25 * (o + h + lo + c)
        with np.errstate(invalid="ignore", divide="ignore"):
            pos = np.where(rng_width > 0, (typical - lo) / rng_width, 0.5)
        pos = np.clip(pos + 0.1 * rng.standard_normal(pos.shape), 0.02, 0.98)
        vwap = np.clip(lo + pos * rng_width, lo, h)
        size = self.trade_size * np.exp(0.2 * rng.standard_normal(v.shape))
        trades = np.clip(np.rint(v / np.maximum(size, 1.0)), 1.0, v)
        return vwap, trades.astype(np.int64)


# --------------------------------------------------------------------------------------------
# public entry points


def generate_paths(
    config: SyntheticMarketConfig, n_sessions: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``(n_sessions, n_assets, 5)`` float array of open, high, low, close, volume.

    For repeated calls on one config (the RL env's resets), build ``SyntheticMarket(config)``
    once and call its ``paths``; this function rebuilds it each time (well under 1 ms).
    """
    return SyntheticMarket(config).paths(n_sessions, rng)


def generate_arrays(
    config: SyntheticMarketConfig,
    start: calendar.DateLike = DEMO_START,
    end: calendar.DateLike = DEMO_END,
    rng: np.random.Generator | None = None,
) -> SyntheticArrays:
    """``(sessions, symbols, bars)`` on the real NYSE sessions of ``[start, end]``."""
    market = SyntheticMarket(config)
    days = calendar.sessions_array(start, end)
    return SyntheticArrays(days, market.symbols, market.paths(len(days), rng))


def bars_frame(
    symbols: Sequence[str],
    sessions: np.ndarray | Sequence[date],
    bars: np.ndarray,
    vwap: np.ndarray,
    trade_count: np.ndarray,
) -> pd.DataFrame:
    """Tidy frame (one row per symbol and session, sorted so) with columns BAR_COLUMNS."""
    days = np.asarray(sessions, dtype="datetime64[D]")
    n_t, n_a = bars.shape[:2]
    if days.shape != (n_t,) or len(symbols) != n_a:
        raise ValueError("sessions/symbols do not match the bars' shape")
    # Symbol-major layout: transpose once, then every column is a flat view.
    b = bars.transpose(1, 0, 2)
    session_dates = np.array(days.tolist(), dtype=object)
    return pd.DataFrame(
        {
            "symbol": np.repeat(np.asarray(symbols, dtype=object), n_t),
            "session": np.tile(session_dates, n_a),
            "open": b[..., OPEN].ravel(),
            "high": b[..., HIGH].ravel(),
            "low": b[..., LOW].ravel(),
            "close": b[..., CLOSE].ravel(),
            "volume": b[..., VOLUME].ravel().astype(np.int64),
            "vwap": vwap.T.ravel(),
            "trade_count": trade_count.T.ravel().astype(np.int64),
        },
        columns=list(BAR_COLUMNS),
    )


def generate_bars(
    config: SyntheticMarketConfig | None = None,
    start: calendar.DateLike = DEMO_START,
    end: calendar.DateLike = DEMO_END,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Tidy daily bars on the NYSE sessions of ``[start, end]`` (default: the DOW30-like demo).

    Columns: ``symbol, session (datetime.date), open, high, low, close, volume, vwap,
    trade_count``. OHLCV equals :func:`generate_arrays` for the same config and generator
    state; vwap and trade_count use further draws from the same generator.
    """
    config = dow30_like_config() if config is None else config
    market = SyntheticMarket(config)
    if rng is None:
        rng = np.random.default_rng(config.seed)
    days = calendar.sessions_array(start, end)
    bars = market.paths(len(days), rng)
    vwap, trades = market.vwap_and_trades(bars, rng)
    return bars_frame(market.symbols, days, bars, vwap, trades)


# --------------------------------------------------------------------------------------------
# the DOW30-like demo market

# Rough 2008-2020 character of each 2020 Dow member: (sector, annual drift, annual vol,
# market-factor loading). Not fitted to data: plausible magnitudes so the demo looks real.
_DOW30_PROFILE: dict[str, tuple[str, float, float, float]] = {
    "AAPL": ("tech", 0.10, 0.32, 0.62),
    "AMGN": ("health", 0.07, 0.27, 0.50),
    "AXP": ("fin", 0.07, 0.36, 0.66),
    "BA": ("ind", 0.07, 0.36, 0.62),
    "CAT": ("ind", 0.07, 0.32, 0.64),
    "CRM": ("tech", 0.10, 0.38, 0.58),
    "CSCO": ("tech", 0.06, 0.28, 0.62),
    "CVX": ("ind", 0.05, 0.28, 0.60),
    "DIS": ("cons", 0.08, 0.27, 0.64),
    "DOW": ("ind", 0.05, 0.38, 0.60),
    "GS": ("fin", 0.06, 0.36, 0.66),
    "HD": ("cons", 0.10, 0.26, 0.62),
    "HON": ("ind", 0.08, 0.26, 0.66),
    "IBM": ("tech", 0.05, 0.23, 0.58),
    "INTC": ("tech", 0.07, 0.30, 0.62),
    "JNJ": ("health", 0.06, 0.17, 0.52),
    "JPM": ("fin", 0.08, 0.36, 0.66),
    "KO": ("cons", 0.06, 0.18, 0.50),
    "MCD": ("cons", 0.08, 0.19, 0.48),
    "MMM": ("ind", 0.06, 0.22, 0.64),
    "MRK": ("health", 0.06, 0.24, 0.52),
    "MSFT": ("tech", 0.10, 0.27, 0.64),
    "NKE": ("cons", 0.10, 0.28, 0.58),
    "PG": ("cons", 0.06, 0.18, 0.50),
    "TRV": ("fin", 0.07, 0.26, 0.58),
    "UNH": ("health", 0.10, 0.30, 0.56),
    "V": ("tech", 0.10, 0.26, 0.62),
    "VZ": ("cons", 0.05, 0.20, 0.48),
    "WBA": ("health", 0.05, 0.28, 0.50),
    "WMT": ("cons", 0.06, 0.20, 0.46),
}
_SECTOR_LOADING = 0.35


def dow30_like_correlation() -> np.ndarray:
    """Sector factor-model correlation of the demo market (pairwise ~0.22-0.56)."""
    profile = [_DOW30_PROFILE[s] for s in DOW30_2020]
    sectors = np.array([p[0] for p in profile])
    return factor_correlation(
        np.array([p[3] for p in profile]), sectors, np.full(len(profile), _SECTOR_LOADING)
    )


def dow30_like_config(
    model: Model = "regime", seed: int | None = 0, **overrides: Any
) -> SyntheticMarketConfig:
    """The demo market: 30 Dow-2020 tickers, drifts 5-10%/yr, vols 17-38%/yr, sector
    correlation ~0.2-0.55, rare Merton jumps, and (by default) calm/volatile/crash regimes.
    """
    profile = [_DOW30_PROFILE[s] for s in DOW30_2020]
    options: dict[str, Any] = dict(
        model=model,
        symbols=DOW30_2020,
        drift=tuple(p[1] for p in profile),
        vol=tuple(p[2] for p in profile),
        correlation=dow30_like_correlation(),
        jump_intensity=1.0,
        jump_mean=-0.01,
        jump_std=0.04,
        seed=seed,
    )
    options.update(overrides)
    return SyntheticMarketConfig(**options)


__all__ = [
    "BAR_COLUMNS",
    "DEFAULT_REGIMES",
    "DEFAULT_TRANSITIONS",
    "DEMO_END",
    "DEMO_START",
    "DOW30_2020",
    "FIELDS",
    "Regime",
    "Simulation",
    "SyntheticArrays",
    "SyntheticMarket",
    "SyntheticMarketConfig",
    "bars_frame",
    "bootstrap_indices",
    "default_symbols",
    "dow30_like_config",
    "dow30_like_correlation",
    "equicorrelation",
    "factor_correlation",
    "generate_arrays",
    "generate_bars",
    "generate_paths",
    "random_factor_correlation",
    "stationary_distribution",
]
