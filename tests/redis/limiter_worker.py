"""A process that hammers one limiter key (tests/redis/test_limiter.py; spawned)."""

from __future__ import annotations

import time
from typing import Any


def hammer(url: str, name: str, rpm: int, window: float, seconds: float, start: float,
           out: Any) -> None:
    from sarvanom_sdk.settings import Settings
    from sarvanom_sdk.shared_state.limiter import TokenLimits, open_rate_limiter

    limiter = open_rate_limiter(
        Settings.from_env(env_file=None, redis_url=url), window_seconds=window
    )
    limits = TokenLimits(requests_per_minute=rpm)
    while time.time() < start:
        time.sleep(0.001)
    allowed = refused = 0
    while time.time() < start + seconds:
        if limiter.check(name, limits).allowed:
            allowed += 1
        else:
            refused += 1
    out.put((allowed, refused))
