"""Shared pieces of the reliability and parity suites: the suite's canary secrets, how to
point a client at each emulated wire provider, short timeouts, and what a test can observe
about the process (open sockets, threads).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from sarvanom_sdk import LLMResponse, ProviderName, Settings
from sarvanom_sdk.testing import ProviderEmulator

# -- the canaries ---------------------------------------------------------------------------
#: tests/conftest.py puts a fresh fake secret in every key variable when it is imported,
#: before any test module is collected. It is imported as the top-level module
#: ``conftest``, a name pytest rebinds to each directory's conftest.py, so its values are
#: read from the environment it exported them to (no test has run yet at import time).
KEY_VARS = ("HUGGINGFACE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GPU_REMOTE_TOKEN")
CANARY_ENV: dict[str, str] = {name: os.environ[name] for name in KEY_VARS}
assert all("canary" in value for value in CANARY_ENV.values()), "not tests/conftest.py's"


# -- wire providers -------------------------------------------------------------------------
#: Each provider's base-URL setting, and the variable holding its key (if it has one).
_URL_FIELD = {
    ProviderName.OLLAMA_LOCAL: "ollama_base_url",
    ProviderName.REMOTE_GPU: "gpu_remote_url",
    ProviderName.HUGGINGFACE: "huggingface_base_url",
    ProviderName.OPENAI: "openai_base_url",
    ProviderName.ANTHROPIC: "anthropic_base_url",
}
KEY_VAR = {
    ProviderName.REMOTE_GPU: "GPU_REMOTE_TOKEN",
    ProviderName.HUGGINGFACE: "HUGGINGFACE_API_KEY",
    ProviderName.OPENAI: "OPENAI_API_KEY",
    ProviderName.ANTHROPIC: "ANTHROPIC_API_KEY",
}
#: Settings field of every environment variable (``OPENAI_API_KEY`` -> ``openai_api_key``).
FIELD_OF = {f.metadata["env"]: f.name for f in fields(Settings)}


@dataclass(frozen=True)
class Wire:
    """One emulated wire protocol and the SDK provider configured to speak it."""

    name: str  # the emulator's name
    provider: ProviderName
    streams: bool  # False: the protocol cannot stream; the SDK buffers a normal reply
    choose: tuple[tuple[str, Any], ...] = ()  # the settings that select this protocol

    def settings(self, emu: ProviderEmulator, keys: dict[str, str] = CANARY_ENV) -> dict[str, Any]:
        """Client overrides that point this provider at the emulator, with its key from
        ``keys`` (variable -> value; the suite's canaries by default)."""
        out: dict[str, Any] = {
            _URL_FIELD[self.provider]: emu.url_for(self.name),
            **dict(self.choose),
        }
        variable = KEY_VAR.get(self.provider)
        if variable is not None:
            out[FIELD_OF[variable]] = keys[variable]
        return out


_P = ProviderName
_PAID = (("enable_paid_api", True),)
WIRES: dict[str, Wire] = {
    wire.name: wire
    for wire in (
        Wire("ollama", _P.OLLAMA_LOCAL, streams=True),
        Wire("remote_gpu", _P.REMOTE_GPU, False, (("gpu_remote_protocol", "seed"),)),
        Wire("remote_gpu_openai", _P.REMOTE_GPU, True, (("gpu_remote_protocol", "openai"),)),
        Wire("huggingface", _P.HUGGINGFACE, True, (("huggingface_api", "router"),)),
        Wire("huggingface_task", _P.HUGGINGFACE, False, (("huggingface_api", "task"),)),
        Wire("openai", _P.OPENAI, True, _PAID),
        Wire("anthropic", _P.ANTHROPIC, True, _PAID),
    )
}

#: The suite's timeouts: far above what a healthy emulated answer takes on a loaded
#: machine (issue 12: at 0.5 s, 2 MiB replies and fresh clients timed out beside two CPU
#: hogs), so no timer fires unless a test means it to. A test about a hung provider sets
#: its own short timeouts for that provider's case (see test_fault_matrix.py).
FAST: dict[str, Any] = {
    "attempt_timeout": 5.0,
    "first_token_timeout": 5.0,
    "total_timeout": 10.0,
    "connect_timeout": 5.0,
    "max_retries": 0,
    # room for a few requests at once to the providers with small default bulkheads
    "max_concurrency": "ollama_local=16,remote_gpu=16,huggingface=16",
}
#: What the trail says of an attempt that ran out of time (the wording is the transport's).
TIMED_OUT = r"(?i)no (complete )?(response|reply|data|first token)|within|did not arrive|timed out"
#: Slack allowed past a deadline for scheduling on a loaded 2-core machine; still less
#: than :data:`FAST`'s timeouts, so "within the deadline plus MARGIN" never holds by
#: waiting for one of them.
MARGIN = 2.0


def chain(
    emu: ProviderEmulator, *names: str, keys: dict[str, str] = CANARY_ENV, **overrides: Any
) -> dict[str, Any]:
    """Client overrides for a chain of emulated providers, in this order (then the stub),
    with these ``keys`` and the :data:`FAST` timeouts unless ``overrides`` say otherwise."""
    settings: dict[str, Any] = dict(FAST)
    for name in names:
        settings.update(WIRES[name].settings(emu, keys))
    settings["providers"] = tuple(WIRES[name].provider for name in names)
    settings.update(overrides)
    return settings


def backup_for(name: str) -> str:
    """A healthy provider to put after ``name`` in a chain (a different SDK provider)."""
    return "openai" if WIRES[name].provider is ProviderName.OLLAMA_LOCAL else "ollama"


def fresh(emu: ProviderEmulator) -> None:
    """Forget the emulator's faults and recorded requests (between cases)."""
    emu.clear()
    emu.reset()


# -- the attempt trail ----------------------------------------------------------------------
def trail(response: LLMResponse | Any) -> list[tuple[str, str]]:
    """``[(provider, outcome), ...]`` of a response (or an error carrying ``attempts``)."""
    return [(a.provider.value, a.outcome.value) for a in response.attempts]


# -- the process ----------------------------------------------------------------------------
def open_sockets() -> int:
    """Sockets this process holds open (client and in-process server sides alike)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # closed while listing
            continue
    return count


def quiet_sockets(timeout: float = 3.0) -> int:
    """:func:`open_sockets` once it holds still (sockets of earlier tests may still be
    closing on the emulator's thread), for a baseline to compare with."""
    deadline = time.monotonic() + timeout
    count = open_sockets()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        again = open_sockets()
        if again == count:
            break
        count = again
    return count


def settle(condition: Any, timeout: float = 3.0) -> bool:
    """Poll ``condition()`` until true or ``timeout`` seconds pass (for effects another
    thread completes, like the server side closing a socket the client dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as took: ...``; then ``took[0]`` is the elapsed seconds."""
    took: list[float] = []
    started = time.monotonic()
    try:
        yield took
    finally:
        took.append(time.monotonic() - started)
