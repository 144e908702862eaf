"""When to retry the same provider, and how long to wait first.

Free-first routing prefers falling over to the next provider to waiting, so by default a
provider gets one retry, only for transient failures (connection errors, 5xx, 429), never
for timeouts (the attempt already spent its time), and never past the deadline. A
Retry-After is honoured exactly (no jitter below the server's value); one longer than what
is left of the deadline (or than ``max_wait``) means fall over now. Other waits use
exponential backoff with full jitter (``backoff.expo`` + ``backoff.full_jitter``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..errors import ProviderError, ProviderTimeout


class RetryPolicy:
    __slots__ = ("max_retries", "base", "cap", "max_wait", "_jitter", "_expo")

    def __init__(
        self,
        max_retries: int = 1,
        *,
        base: float = 0.2,
        cap: float = 2.0,
        max_wait: float = 5.0,
        jitter: Callable[[float], float] | None = None,
    ) -> None:
        import backoff

        self.max_retries = max_retries
        self.base = base
        self.cap = cap
        self.max_wait = max_wait
        self._jitter = jitter or backoff.full_jitter
        self._expo = backoff.expo

    def delay(self, retries_done: int, error: ProviderError, remaining: float) -> float | None:
        """Seconds to wait before retrying, or None to fall over to the next provider."""
        if retries_done >= self.max_retries or not error.transient:
            return None
        if isinstance(error, ProviderTimeout):
            return None
        if error.retry_after is not None:
            wait = error.retry_after
        else:
            gen = self._expo(base=2, factor=self.base, max_value=self.cap)
            next(gen)  # backoff's generators yield None first (PEP 342 priming)
            for _ in range(retries_done):
                next(gen)
            wait = self._jitter(next(gen))
        if wait > self.max_wait or wait >= remaining:
            return None
        return max(0.0, wait)


def seeded_jitter(seed: int) -> Callable[[float], float]:
    """A reproducible full jitter, for tests."""
    rng = random.Random(seed)
    return lambda value: rng.uniform(0, value)
