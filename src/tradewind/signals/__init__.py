"""Daily target weights: ``signals.target_weights`` and the Quantopian-style weight files.

Public API:

- :func:`generate` (``tradewind signals generate``): weights for a session or a range of
  sessions from the production models, a named model version, or an ensemble;
- :func:`read_weights`: read a model's weight files back (local folder or fsspec URL);
- :func:`run_chain` / :func:`model_signals`: the computation without writing (evaluation and
  tests compare it with the environment);
- :class:`SignalRefused`: the one-line reason nothing was written.
"""

from __future__ import annotations

from typing import Any

from tradewind.signals.ensembles import EnsembleConfig, load_ensemble
from tradewind.signals.files import HISTORY_NAME, WeightFileError, parse_weights, session_file_name
from tradewind.signals.generate import (
    GenerationResult,
    ModelHandle,
    SessionSignals,
    SignalRefused,
    generate,
    model_handle,
    model_signals,
    run_chain,
)


def read_weights(url: str, date: Any = None):
    """Weights as a DataFrame ``date, symbol, weight`` (``date`` a datetime.date).

    ``url``: a model's weights folder (``$TRADEWIND_WEIGHTS_DIR/<model>``, local path or fsspec
    URL such as ``s3://bucket/weights/dow30_ppo``) or one ``.csv`` file. With ``date`` the file
    of that session, else the cumulative history. The file is checked under Quantopian's rules
    (WeightFileError names the first problem).
    """
    import fsspec

    from tradewind.calendar import to_date

    if url.endswith(".csv"):
        target = url
    else:
        name = HISTORY_NAME if date is None else session_file_name(to_date(date))
        target = f"{url.rstrip('/')}/{name}"
    fs, path = fsspec.core.url_to_fs(target)
    if not fs.exists(path):
        raise FileNotFoundError(f"no weight file at {target}")
    frame = parse_weights(fs.cat_file(path), target)
    if date is not None and url.endswith(".csv"):
        frame = frame[frame["date"] == to_date(date)].reset_index(drop=True)
    return frame


__all__ = [
    "EnsembleConfig",
    "GenerationResult",
    "ModelHandle",
    "SessionSignals",
    "SignalRefused",
    "WeightFileError",
    "generate",
    "load_ensemble",
    "model_handle",
    "model_signals",
    "read_weights",
    "run_chain",
]
