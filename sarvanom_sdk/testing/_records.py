"""What the emulator saw: numbered, recorded requests. Thread-safe (the server loop writes,
the test thread reads)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .faults import Fault


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received.

    ``number`` is 1-based per provider since the last reset (what ``on_requests`` means for
    ``endpoint="any"`` rules); ``headers`` is case-insensitive; ``body`` is the raw body, cut
    to the emulator's ``max_record_body`` bytes (``body_size`` is its real length, and
    ``truncated`` says whether it was cut); ``json`` is the parsed body (``None`` when empty,
    not JSON, or cut); ``fault`` is what was injected, if any; ``received_at`` is
    ``time.monotonic()`` on arrival.
    """

    provider: str
    number: int
    endpoint: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    json: Any
    fault: Fault | None
    received_at: float
    body_size: int = 0

    @property
    def truncated(self) -> bool:
        """Whether ``body`` keeps less than the whole body."""
        return self.body_size > len(self.body)


class RequestLog:
    """Counters (exact, never trimmed) and the most recent ``max_records`` requests."""

    def __init__(self, max_records: int | None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)

    def number(self, provider: str, endpoint: str) -> tuple[int, int]:
        """Count one more request; return its numbers among the provider's requests of any
        endpoint and among those of ``endpoint``."""
        with self._lock:
            counts = self._counts
            any_number = counts[provider, "any"] = counts.get((provider, "any"), 0) + 1
            own_number = counts[provider, endpoint] = counts.get((provider, endpoint), 0) + 1
        return any_number, own_number

    def add(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)

    def count(self, provider: str | None, endpoint: str) -> int:
        with self._lock:
            if provider is not None:
                return self._counts.get((provider, endpoint), 0)
            return sum(n for (_, kind), n in self._counts.items() if kind == endpoint)

    def records(self, provider: str | None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._records if provider in (None, r.provider)]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._records.clear()
