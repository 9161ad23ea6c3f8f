"""Ctrl-C and ``kill PID`` during training: the first asks for a stop between iterations, the
second interrupts at once (rl/train.py ``_StopRequest``), and the old handlers come back."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tradewind.rl.train import _StopRequest


def _deliver(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # Python runs the handler at the next bytecode boundary of the main thread


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_requests_a_stop_second_interrupts(sig: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with _StopRequest() as stop:
        assert not stop.requested
        _deliver(sig)  # no exception: the running iteration may finish
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            _deliver(signal.SIGINT if sig == signal.SIGTERM else signal.SIGTERM)
    assert {s: signal.getsignal(s) for s in before} == before
