"""What the gateway accepts, and how it refuses what it does not.

* :class:`Limits`: the request body size, the prompt size, the ``max_tokens`` cap and the
  concurrency cap (requests in flight, plus a bounded wait for a free slot).
* :class:`GatewayError`: every refusal, rendered in OpenAI's error shape
  ``{"error": {"message", "type", "param", "code"}}`` on every endpoint.
* :func:`read_json`: the body as a JSON object, or 415 / 413 / 408 / 400 naming the problem:
  only ``application/json`` (F3), a body that arrives within ``body_timeout`` (F7), no
  nesting deep enough to break the parser and no lone UTF-16 surrogate (F12).
* :func:`admit_request`: an :class:`~sarvanom_sdk.LLMRequest` within the limits, or 400 with
  the SDK's own :class:`~sarvanom_sdk.InvalidRequestError` message and field.
* :class:`InFlightGate`: at most ``max_in_flight`` model calls at once; up to ``max_waiting``
  more wait (at most ``wait_timeout`` seconds) for a slot; beyond that, 503 at once.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import AllProvidersFailed, ConfigurationError, InvalidRequestError
from ..types import (
    DEFAULT_MAX_TOKENS,
    MAX_PROMPT_CHARS,
    MAX_TOKENS_CAP,
    Attempt,
    LLMRequest,
    ProviderHealth,
    ProviderName,
)
from .timing import deadline

if TYPE_CHECKING:
    from aiohttp import web

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The gateway's limits. ``max_tokens`` and ``max_prompt_chars`` may only tighten the
    SDK's own caps (``types.MAX_TOKENS_CAP``, ``types.MAX_PROMPT_CHARS``).

    Slow or silent callers (F6, F7), in seconds: ``header_timeout`` bounds the wait for a
    request's headers (and an idle keep-alive connection), ``body_timeout`` the wait for
    its body, ``write_timeout`` one write to a caller that stopped reading (the stream is
    then dropped and its slots freed). ``max_connections`` caps open connections (0: half
    the process's open-file limit, at most 4096); past it the oldest connection that has no
    request in progress is closed. ``probe_ttl``: how long one ``?probe=true`` fan-out
    answers every probe request (F14).
    """

    max_body_bytes: int = MIB
    max_prompt_chars: int = 200_000
    max_tokens: int = MAX_TOKENS_CAP
    max_in_flight: int = 256
    max_waiting: int = 1024
    wait_timeout: float = 10.0
    header_timeout: float = 15.0
    body_timeout: float = 20.0
    write_timeout: float = 10.0
    max_connections: int = 0
    probe_ttl: float = 5.0

    def __post_init__(self) -> None:
        caps = {"max_tokens": MAX_TOKENS_CAP, "max_prompt_chars": MAX_PROMPT_CHARS}
        for f in fields(self):
            value = getattr(self, f.name)
            least: float = (
                0
                if f.name in ("max_waiting", "wait_timeout", "max_connections", "probe_ttl")
                else 1
            )
            if f.name.endswith("_timeout") and f.name != "wait_timeout":
                least = 0.01
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < least:
                raise ConfigurationError(f.name, f"must be a number >= {least}, got {value!r}")
            if f.name in caps and value > caps[f.name]:
                raise ConfigurationError(f.name, f"must be at most {caps[f.name]}, got {value}")

    def connection_cap(self) -> int:
        """``max_connections``, or the default from the open-file limit."""
        if self.max_connections:
            return self.max_connections
        try:
            import resource
        except ImportError:  # not POSIX
            return 1024
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return 4096
        return max(8, min(4096, (soft - 32) // 2))


class GatewayError(Exception):
    """A refusal: HTTP ``status`` and OpenAI's error object. ``param`` names the offending
    request field when there is one; ``code`` is a stable machine-readable token."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    @property
    def kind(self) -> str:
        """OpenAI's ``type``: ``server_error`` for 5xx, ``invalid_request_error`` else."""
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }

    @classmethod
    def bad_request(
        cls, param: str | None, message: str, code: str = "invalid_request"
    ) -> GatewayError:
        """400 about the request field ``param``."""
        return cls(400, message, code=code, param=param)

    @classmethod
    def invalid(cls, error: InvalidRequestError) -> GatewayError:
        """400 from the SDK's validation error (its message names the field)."""
        return cls.bad_request(error.field, str(error))

    @classmethod
    def no_provider(cls, error: AllProvidersFailed, retry_after: int | None = None) -> GatewayError:
        """503 for a strict client (``fallback_to_stub=False``) when no provider answered;
        ``Retry-After``: ``retry_after`` seconds (see :func:`reopen_in`), else 1 (D17)."""
        return cls(
            503,
            str(error),
            code="no_provider_available",
            headers={"Retry-After": str(retry_after or 1)},
        )


def reopen_in(
    attempts: Iterable[Attempt], health: Mapping[str, ProviderHealth], now: datetime
) -> int | None:
    """Whole seconds (at least 1) until the first breaker reopens among the providers a
    failed request considered, when every one of them is open; None when one is not (it
    failed for another reason, so the reopen times say nothing)."""
    tried = {a.provider.value for a in attempts if a.provider is not ProviderName.LOCAL_STUB}
    until = [health[name].circuit_open_until if name in health else None for name in tried]
    if not until or any(moment is None for moment in until):
        return None
    first = min(moment for moment in until if moment is not None)
    return max(1, math.ceil((first - now).total_seconds()))


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"request body larger than {limit} bytes", code="request_too_large")


class BodyReads:
    """The requests reading their body now, so that a graceful shutdown can cut trickling
    uploads short instead of waiting for them (F7). Belongs to one event loop."""

    def __init__(self) -> None:
        self.closing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    async def read(self, request: web.Request, seconds: float) -> bytes:
        """The whole body; 408 when it has not arrived within ``seconds``, 503 when the
        gateway began shutting down meanwhile."""
        if self.closing:
            raise _shutting_down()
        if request.content.is_eof():  # the usual case: it came with the headers
            return await request.read()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            async with deadline(seconds):
                return await request.read()
        except asyncio.TimeoutError:
            raise GatewayError(
                408,
                f"the request body did not arrive within {seconds:g} seconds",
                code="request_timeout",
                headers={"Connection": "close"},
            ) from None
        except asyncio.CancelledError:
            if not self.closing:
                raise  # the caller left
            uncancel = getattr(task, "uncancel", None)
            if uncancel is not None:
                uncancel()
            raise _shutting_down() from None
        finally:
            self._tasks.discard(task)

    def cut(self) -> None:
        """Shutdown began: every body read in progress ends now with 503."""
        self.closing = True
        for task in list(self._tasks):
            task.cancel()


def _shutting_down() -> GatewayError:
    return GatewayError(
        503,
        "the gateway is shutting down; retry shortly",
        code="shutting_down",
        headers={"Connection": "close", "Retry-After": "1"},
    )


def _is_json(content_type: str) -> bool:
    return content_type == "application/json"


async def read_json(
    request: web.Request, limits: Limits, reads: BodyReads | None = None
) -> dict[str, Any]:
    """The request body parsed as a JSON object of at most ``limits.max_body_bytes``.

    415 unless the Content-Type is ``application/json`` (F3: a web page cannot send that
    cross-site without a preflight); 413 when the body is larger (decided from
    Content-Length before reading when it is declared); 408 when it does not arrive within
    ``limits.body_timeout``; 400 ``invalid_json`` when it is empty, not JSON, nested too
    deeply to parse, or not an object; 400 naming the field that holds a lone UTF-16
    surrogate (valid JSON that no UTF-8 encoder can send on, F12).
    """
    if not _is_json(request.content_type):
        raise GatewayError(
            415,
            "the request body must be JSON, sent with 'Content-Type: application/json' "
            f"(got {request.headers.get('Content-Type', 'none')[:100]!r})",
            code="unsupported_media_type",
        )
    limit = limits.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    try:
        raw = await (reads or BodyReads()).read(request, limits.body_timeout)
    except GatewayError:
        raise
    except Exception as error:
        from aiohttp import web  # here, not per request (issue 18)

        if isinstance(error, web.HTTPRequestEntityTooLarge):
            raise _too_large(limit) from None
        raise
    if len(raw) > limit:
        raise _too_large(limit)
    if not raw.strip():
        raise GatewayError(
            400, "the request body is empty; expected a JSON object", code="invalid_json"
        )
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")  # as json.loads does
        body = json.loads(text)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise GatewayError(400, f"malformed JSON body: {error}", code="invalid_json") from None
    except RecursionError:
        raise GatewayError(
            400, "malformed JSON body: nested too deeply", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "the request body must be a JSON object", code="invalid_json")
    where = lone_surrogate_at(body) if _MAY_HOLD_SURROGATE.search(text) else None
    if where is not None:
        raise GatewayError.bad_request(
            where.partition(".")[0].partition("[")[0] or None,
            f"{where}: holds a lone UTF-16 surrogate (half of a character); send valid "
            "Unicode text",
        )
    return body


#: What a body with a surrogate in it holds: a ``\uD800``-``\uDFFF`` escape, or a
#: surrogate in the decoded text itself (UTF-8 bytes ED A0..BF, or UTF-16 code units,
#: that ``surrogatepass`` lets through). A body without one needs no walk (issue 18).
_MAY_HOLD_SURROGATE = re.compile("[\ud800-\udfff]|\\\\u[dD][89a-fA-F]")


def lone_surrogate_at(value: Any) -> str | None:
    """The path (``messages[0].content``) of the first string, or object key, in ``value``
    holding a lone surrogate; None when there is none. Iterative: a parsed body may be
    nested as deep as the parser allows."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return path or "(body)"
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if not _encodable(key):
                    return path or "(body)"
                children.append((f"{path}.{key}" if path else str(key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{i}]", c) for i, c in enumerate(item)]))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def admit_request(fields: Mapping[str, Any], limits: Limits) -> LLMRequest:
    """An LLMRequest from ``fields`` (LLMRequest keyword arguments), within ``limits``.

    Raises :class:`GatewayError` (400) naming the field: the SDK's validation message, or
    the gateway's tighter ``max_tokens`` and prompt-size caps. Without ``max_tokens`` the
    SDK's default applies, lowered to the gateway's cap.
    """
    if "max_tokens" not in fields:
        fields = {**fields, "max_tokens": min(DEFAULT_MAX_TOKENS, limits.max_tokens)}
    try:
        request = LLMRequest(**fields)
    except InvalidRequestError as error:
        raise GatewayError.invalid(error) from None
    if request.max_tokens > limits.max_tokens:
        raise GatewayError.bad_request(
            "max_tokens",
            f"max_tokens: must be at most {limits.max_tokens} on this gateway, "
            f"got {request.max_tokens}",
        )
    if request.prompt_chars() > limits.max_prompt_chars:
        raise GatewayError.bad_request(
            "prompt" if request.prompt is not None else "messages",
            f"the prompt is longer than this gateway's limit of {limits.max_prompt_chars} "
            "characters (system text and all messages together)",
            code="prompt_too_long",
        )
    return request


class InFlightGate:
    """Bounds concurrent model calls; see the module docstring. Belongs to one event loop."""

    def __init__(self, limits: Limits) -> None:
        self.limit = limits.max_in_flight
        self._capacity = limits.max_in_flight + limits.max_waiting
        self._wait_timeout = limits.wait_timeout
        self._slots = asyncio.Semaphore(limits.max_in_flight)
        self.admitted = 0  # in flight + waiting
        self.in_flight = 0

    @property
    def waiting(self) -> int:
        return self.admitted - self.in_flight

    def slot(self) -> _Slot:
        """``async with gate.slot():`` holds one slot for its body; 503 when none can be
        had."""
        return _Slot(self)

    async def _acquire(self) -> None:
        if self.admitted >= self._capacity:
            raise self._busy(f"{self.limit} in flight, {self.waiting} waiting")
        self.admitted += 1
        try:
            if self._slots.locked():
                try:
                    await asyncio.wait_for(self._slots.acquire(), self._wait_timeout)
                except asyncio.TimeoutError:
                    raise self._busy(f"no free slot within {self._wait_timeout:g}s") from None
            else:
                await self._slots.acquire()
        except BaseException:
            self.admitted -= 1
            raise
        self.in_flight += 1

    def _release(self) -> None:
        self.in_flight -= 1
        self._slots.release()
        self.admitted -= 1

    @staticmethod
    def _busy(detail: str) -> GatewayError:
        return GatewayError(
            503,
            f"the gateway is at its concurrency limit ({detail}); retry shortly",
            code="gateway_overloaded",
            headers={"Retry-After": "1"},
        )


class _Slot:
    """One :meth:`InFlightGate.slot` (a plain async context manager: no generator per
    request, issue 18)."""

    __slots__ = ("_gate",)

    def __init__(self, gate: InFlightGate) -> None:
        self._gate = gate

    async def __aenter__(self) -> None:
        await self._gate._acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._gate._release()
