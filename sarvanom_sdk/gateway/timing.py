"""``deadline(seconds)``: ``asyncio.timeout`` on every supported Python (3.10 has none).

The body of ``async with deadline(s):`` is cancelled after ``s`` seconds and
``asyncio.TimeoutError`` raised instead — without a task of its own (``wait_for`` makes
one per call on 3.10-3.11, and leaves a late exception of it unretrieved when cancelled).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def _deadline_310(seconds: float) -> AsyncIterator[None]:  # pragma: no cover - 3.10
    task = asyncio.current_task()
    assert task is not None
    fired = False

    def fire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    handle = asyncio.get_running_loop().call_later(max(seconds, 0.0), fire)
    try:
        yield
    except asyncio.CancelledError:
        if fired:
            raise asyncio.TimeoutError from None
        raise
    finally:
        handle.cancel()


deadline: Any = getattr(asyncio, "timeout", None) or _deadline_310
