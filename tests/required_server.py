"""Servers the suite starts itself (llama.cpp's llama-server, redis-server).

Each is started on 127.0.0.1 by its own fixture. When one cannot be built or started,
its tests are skipped with the reason on a developer's machine, and fail under CI (where
``CI`` is set): there every test must really run, never be skipped quietly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


class RequiredServer:
    """Starts a server object (``start()``/``stop()``) per use; remembers a failure so
    later tests report it at once instead of trying again."""

    def __init__(
        self,
        what: str,
        make: Callable[[], Any],
        errors: tuple[type[BaseException], ...],
        hint: str = "",
    ) -> None:
        self.what = what
        self._make = make
        self._errors = errors
        self._hint = hint
        self._failure: str | None = None

    def unavailable(self, reason: str) -> None:
        message = f"{self.what} unavailable: {reason}"
        if in_ci():
            pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(f"{message} (would FAIL under CI=true{self._hint})")

    @contextmanager
    def serving(self) -> Iterator[Any]:
        if self._failure is not None:
            self.unavailable(self._failure)
        server = self._make()
        try:
            server.start()
        except (*self._errors, OSError) as exc:
            server.stop()
            self._failure = f"{type(exc).__name__}: {exc}"
            self.unavailable(self._failure)
        try:
            yield server
        finally:
            server.stop()
