"""Stopping cleanly on SIGTERM and SIGHUP, and stopping child processes for good.

Python's default action for SIGTERM and SIGHUP ends the process at once: no ``finally``
runs, so a child server started with ``start_new_session=True`` (out of reach of the
terminal's and ``timeout``'s process-group signals) is left behind holding its port and
any pipe it inherited. Inside :func:`stop_on_signals` those signals raise :class:`Stopped`
instead, a ``KeyboardInterrupt``, so they take the very path Ctrl-C takes: every
``finally`` runs, partial results are kept, and the exit status is ``128 + signal``
(:func:`exit_status`: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).

Used by ``sarvanom-bench`` and by the scripts in ``benchmarks/`` (through ``_common``).
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

#: Signals that stop a run the way Ctrl-C does.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

#: Seconds a child gets to exit after SIGTERM before it is killed.
GRACE = 5.0


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; raised like Ctrl-C so the same clean-up runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(interrupt: BaseException) -> int:
    """The conventional status for a run stopped by ``interrupt``: 128 + the signal."""
    return 128 + int(getattr(interrupt, "signum", signal.SIGINT))


def signal_name(interrupt: BaseException) -> str:
    """``SIGINT`` for Ctrl-C, else the stopping signal's name."""
    return signal.Signals(getattr(interrupt, "signum", signal.SIGINT)).name


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread.

    Only the first signal raises: the clean-up it starts (bounded waits, see
    :func:`stop_child`) is not cut short by a second one. Python runs a handler wherever
    the main thread happens to be, which may be a finalizer (``__del__``, a GC callback)
    where an exception is printed and dropped; a :class:`Stopped` dropped that way is
    delivered again (``sys.unraisablehook`` -> ``_thread.interrupt_main`` from a timer), so a
    single SIGTERM is never lost. The previous handlers and hook are put back on the way
    out. Outside the main thread (where Python cannot set handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Stopped(signum)

    previous_hook = sys.unraisablehook

    def redeliver(unraisable: Any) -> None:
        nonlocal raised
        if isinstance(unraisable.exc_value, Stopped):
            raised = False  # from another thread: tripped here, it would raise in the hook
            again = threading.Timer(0.01, _thread.interrupt_main,
                                    (unraisable.exc_value.signum,))
            again.daemon = True
            again.start()
        else:
            previous_hook(unraisable)

    previous: dict[int, Any] = {}
    sys.unraisablehook = redeliver
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
        sys.unraisablehook = previous_hook


def stop_child(child: subprocess.Popen[Any], grace: float = GRACE) -> None:
    """Terminate ``child`` and reap it: SIGTERM, up to ``grace`` seconds, then SIGKILL.

    Its pipes are drained while it exits (so it cannot block writing to a full one) and
    closed. A Ctrl-C during the wait still kills the child before it propagates.
    """
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
    try:
        child.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
    except BaseException:
        child.kill()
        child.wait()
        raise
