"""Several gateway tokens, each with its own limits shared by every gateway process
(issue 16 item 5).

``SARVANOM_GATEWAY_TOKENS`` (or ``sarvanom serve --tokens``) holds the list, or the path of
a file holding it: a value starting with ``/``, ``./``, ``../`` or ``~`` is a path, anything
else is the list itself. Two formats, the same fields:

* lines (comments ``#`` and blank lines ignored; entries separated by newlines, spaces
  or ``;``)::

      # name:token[:limits]    limits: rpm=N,tpm=N,usd=X (each optional)
      team-a:sk-team-a-0123456789abcdef:rpm=60,tpm=100000,usd=5
      batch:sk-batch-fedcba9876543210:tpm=500000
      ops:sk-ops-00112233445566778899

* JSON: a list of objects
  ``[{"name": "team-a", "token": "...", "rpm": 60, "tpm": 100000, "usd": 5}]``.

``name``: 1-64 of ``A-Z a-z 0-9 _ . -``, starting with a letter or digit; it is the
token's label in ``/metrics`` and its key for the limits (so the same name shares one
set of limits). ``token``: 16-256 printable ASCII characters without spaces, ``:`` or
``;``. ``rpm`` (requests per minute), ``tpm`` (tokens per minute: the answers'
``usage.total_tokens``), ``usd`` (a budget in total, spent by paid providers' answers):
an absent limit is no limit. A bad entry is refused at start with the entry's number and
field, never the token's value.

**How a request is admitted** (:class:`TokenGuard`, called from the gateway's
authentication step): the bearer token is hashed (SHA-256) and compared in constant time
with every configured token's hash (only hashes are kept in memory). A model call (every
``POST``) is then checked against the token's limits by the shared
:class:`~sarvanom_sdk.shared_state.limiter.RateLimiter` — one Lua call in Redis when
``SARVANOM_REDIS_URL`` is set, so the limits hold across every gateway process; without
Redis (or during a Redis outage) **per process**, so N processes admit up to N times the
limits. ``GET`` endpoints need a valid token but are not counted. After the answer, its
tokens and cost are recorded (a tokens-per-minute check admits while the window's tokens
are below the limit; an answer's tokens count once it is known, so a window may end over
by the answers in flight). Refusals are 429 in OpenAI's shape: ``rate_limit_exceeded``
(type ``requests`` or ``tokens``) with ``Retry-After`` in whole seconds, or
``insufficient_quota`` once the budget is spent (``x-should-retry: false``: it does not
come back).

``GET /v1/usage`` answers the caller's own name, limits and usage (never another token's).
``/metrics`` gains, per token name (never the token)::

    sarvanom_gateway_token_requests_total{token}        model calls admitted (this process)
    sarvanom_gateway_token_refused_total{token,limit}   429s, by the limit that refused
    sarvanom_gateway_token_tokens_total{token}          tokens in the answers
    sarvanom_gateway_token_spend_usd_total{token}       USD spent by the answers

Names are visible to every token holder who can read ``/metrics``: they are labels, not
secrets.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..shared_state.limiter import RateLimiter, TokenLimits, Verdict
from .limits import GatewayError

if TYPE_CHECKING:
    from aiohttp import web

    from ..types import LLMResponse
    from .app import Gateway

logger = logging.getLogger("sarvanom_sdk.gateway")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_TOKEN = re.compile(r"[\x21-\x7e]{16,256}\Z")
_LIMIT_KEYS = {"rpm": "requests_per_minute", "tpm": "tokens_per_minute", "usd": "budget_usd"}
_PATH_PREFIXES = ("/", "./", "../", "~")
#: The name the single ``SARVANOM_GATEWAY_TOKEN`` gets when both are set.
DEFAULT_NAME = "default"
USAGE_PATH = "/v1/usage"


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, value = (header or "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return value


def presented_authorization(headers: Mapping[str, str]) -> str | None:
    """The caller's credentials as an ``Authorization`` value: the header itself, or
    ``Bearer <x-api-key>`` when only ``x-api-key`` is sent (Anthropic's clients do)."""
    header = headers.get("Authorization")
    if header is None and headers.get("x-api-key"):
        return "Bearer " + headers["x-api-key"]
    return header


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True, slots=True)
class GatewayToken:
    """One configured token: its name, the SHA-256 of its value, its limits."""

    name: str
    digest: bytes
    limits: TokenLimits

    def __repr__(self) -> str:  # the digest is not the token, but it is nobody's business
        return f"GatewayToken(name={self.name!r}, limits={self.limits!r})"


class Keyring:
    """The configured tokens (hashes only). :meth:`identify` is constant-time in the
    token's value: it compares against every entry, whatever matched."""

    def __init__(self, tokens: list[GatewayToken]) -> None:
        if not tokens:
            raise ConfigurationError("SARVANOM_GATEWAY_TOKENS", "lists no token")
        self.tokens = tuple(tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def names(self) -> list[str]:
        return sorted({t.name for t in self.tokens})

    def identify(self, value: str) -> GatewayToken | None:
        digest = _digest(value)
        found = None
        for entry in self.tokens:
            if hmac.compare_digest(digest, entry.digest) and found is None:
                found = entry
        return found

    def including(self, token: str | None) -> Keyring:
        """This keyring plus the single gateway token (named ``default``, no limits)."""
        if token is None:
            return self
        if DEFAULT_NAME in self.names:
            raise ConfigurationError(
                "SARVANOM_GATEWAY_TOKEN",
                f"cannot be combined with a token named {DEFAULT_NAME!r} in "
                "SARVANOM_GATEWAY_TOKENS",
            )
        return Keyring([*self.tokens, GatewayToken(DEFAULT_NAME, _digest(token), TokenLimits())])

    @classmethod
    def from_value(cls, value: str) -> Keyring:
        """The keyring of ``SARVANOM_GATEWAY_TOKENS``: a path (``/``, ``./``, ``../``,
        ``~``) or the list itself (see the module docstring)."""
        text = value.strip()
        if text.startswith(_PATH_PREFIXES):
            path = Path(text).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
                mode = path.stat().st_mode
            except OSError as error:
                raise ConfigurationError(
                    "SARVANOM_GATEWAY_TOKENS", f"cannot read {path}: {error.strerror or error}"
                ) from None
            if os.name == "posix" and mode & 0o077:
                logger.warning("token file %s is readable by other users (chmod 600 it)", path)
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """The keyring of a token list (JSON or lines; see the module docstring)."""
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                raw = json.loads(stripped)
            except ValueError as error:
                raise ConfigurationError(
                    "SARVANOM_GATEWAY_TOKENS", f"is not valid JSON (line {_line(error)})"
                ) from None
            if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
                raise ConfigurationError("SARVANOM_GATEWAY_TOKENS", "must be a list of objects")
            entries = [dict(e) for e in raw]
        else:
            entries = [_split_line(item, n) for n, item in enumerate(_items(stripped), 1)]
        tokens: list[GatewayToken] = []
        seen: dict[bytes, int] = {}
        for number, entry in enumerate(entries, 1):
            token = _entry(number, entry)
            if token.digest in seen:
                raise ConfigurationError(
                    f"entry {number}", f"repeats the token of entry {seen[token.digest]}"
                )
            seen[token.digest] = number
            tokens.append(token)
        return cls(tokens)


def _line(error: ValueError) -> int:
    return int(getattr(error, "lineno", 0))


def _items(text: str) -> list[str]:
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [item for line in lines for item in re.split(r"[\s;]+", line) if item]


def _split_line(item: str, number: int) -> dict[str, Any]:
    parts = item.split(":")
    if len(parts) not in (2, 3):
        raise ConfigurationError(
            f"entry {number}", "must be name:token or name:token:rpm=N,tpm=N,usd=X"
        )
    entry: dict[str, Any] = {"name": parts[0], "token": parts[1]}
    for pair in (parts[2].split(",") if len(parts) == 3 and parts[2] else []):
        key, sep, raw = pair.partition("=")
        if not sep or key not in _LIMIT_KEYS:
            raise ConfigurationError(
                f"entry {number}", f"{key!r}: unknown limit; allowed: rpm=N, tpm=N, usd=X"
            )
        try:
            entry[key] = float(raw) if key == "usd" else int(raw)
        except ValueError:
            raise ConfigurationError(
                f"entry {number} {key}", f"must be a number, got {raw!r}"
            ) from None
    return entry


def _entry(number: int, entry: dict[str, Any]) -> GatewayToken:
    where = f"entry {number}"
    unknown = sorted(set(entry) - {"name", "token", *_LIMIT_KEYS})
    if unknown:
        raise ConfigurationError(
            f"{where} {unknown[0]}", "unknown field; allowed: name, token, rpm, tpm, usd"
        )
    name, token = entry.get("name"), entry.get("token")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"{where} name", "must be 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit"
        )
    if not isinstance(token, str) or not _TOKEN.match(token) or ":" in token or ";" in token:
        raise ConfigurationError(
            f"{where} token ({name})",
            "must be 16-256 printable ASCII characters without spaces, ':' or ';'",
        )
    limits = {_LIMIT_KEYS[k]: entry[k] for k in _LIMIT_KEYS if entry.get(k) is not None}
    try:
        parsed = TokenLimits(**limits)
    except ConfigurationError as error:
        reason = str(error).partition(": ")[2]
        raise ConfigurationError(f"{where} ({name}) {error.variable}", reason) from None
    return GatewayToken(name, _digest(token), parsed)


#: The caller of the request being served (set by :meth:`TokenGuard.admit`).
CALLER: contextvars.ContextVar[GatewayToken | None] = contextvars.ContextVar(
    "sarvanom_gateway_caller", default=None
)


class RateLimited(GatewayError):
    """429 in OpenAI's shape: ``type`` is ``requests``, ``tokens`` or ``insufficient_quota``."""

    def __init__(self, verdict: Verdict, limits: TokenLimits, name: str) -> None:
        limit = verdict.limit or "requests_per_minute"
        if limit == "budget_usd":
            super().__init__(
                429,
                f"token {name!r} has spent its budget of {limits.budget_usd:g} USD",
                code="insufficient_quota",
                headers={"x-should-retry": "false"},
            )
            self._type = "insufficient_quota"
            return
        wait = max(1, math.ceil(verdict.retry_after or 1))
        per = "requests" if limit == "requests_per_minute" else "tokens"
        value = getattr(limits, limit)
        super().__init__(
            429,
            f"rate limit reached for token {name!r} on {per} per minute: limit {value}; "
            f"try again in {wait}s",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(wait)},
        )
        self._type = per

    @property
    def kind(self) -> str:
        return self._type


class TokenGuard:
    """The gateway's tokens and their limits: :meth:`admit` in the authentication step,
    :meth:`observe_response` after every answer, ``GET /v1/usage``, per-token metrics.

    :param keyring: the tokens (:meth:`Keyring.from_value`).
    :param limiter: the shared limiter; None: opened on :meth:`install` from the served
        client's settings (Redis when ``SARVANOM_REDIS_URL`` is set, else per process).
    """

    def __init__(self, keyring: Keyring, limiter: RateLimiter | None = None) -> None:
        self.keyring = keyring
        self.limiter = limiter
        self._metrics: dict[str, Any] | None = None

    @classmethod
    def from_value(cls, value: str, limiter: RateLimiter | None = None) -> TokenGuard:
        return cls(Keyring.from_value(value), limiter)

    def install(self, app: web.Application, gateway: Gateway, token: str | None) -> None:
        """Serve with this guard: the single ``token`` joins as ``default``; the usage
        route, the response observer and the metrics are added."""
        from .app import TOKENS

        self.keyring = self.keyring.including(token)
        if self.limiter is None:
            from ..shared_state.limiter import open_rate_limiter

            self.limiter = open_rate_limiter(gateway.client.settings)
        app[TOKENS] = self
        gateway.response_observers.append(self.observe_response)
        app.router.add_get(USAGE_PATH, self._usage)
        if gateway.metrics is not None:
            self._metrics = _token_metrics(gateway.metrics, self.keyring.names)

    async def admit(self, request: web.Request) -> bool | None:
        """As ``Gateway.authorized`` (True, False: wrong token, None: none given), and for
        a model call (``POST``) the token's limits: :class:`RateLimited` when exceeded."""
        CALLER.set(None)
        value = bearer(presented_authorization(request.headers))
        if value is None:
            return None
        caller = self.keyring.identify(value)
        if caller is None:
            return False
        CALLER.set(caller)
        if request.method != "POST":
            return True
        assert self.limiter is not None
        estimate = 1 if caller.limits.tokens_per_minute is not None else 0
        verdict = await self.limiter.check_async(caller.name, caller.limits, tokens=estimate)
        if not verdict.allowed:
            self._count("refused", caller.name, verdict.limit or "")
            raise RateLimited(verdict, caller.limits, caller.name)
        self._count("requests", caller.name)
        return True

    def observe_response(self, response: LLMResponse) -> None:
        """After an answer: its tokens and cost, counted for the caller."""
        caller = CALLER.get()
        if caller is None or self.limiter is None:
            return
        tokens = response.usage.total_tokens if response.usage is not None else 0
        estimate = 1 if caller.limits.tokens_per_minute is not None else 0
        cost = max(0.0, response.cost_usd)
        if tokens != estimate or cost > 0:  # else nothing to correct: no write
            self.limiter.record(caller.name, tokens=tokens - estimate, usd=cost)
        self._count("tokens", caller.name, amount=tokens)
        self._count("spend", caller.name, amount=cost)

    def _count(self, family: str, name: str, label: str | None = None, amount: float = 1) -> None:
        if self._metrics is None or amount <= 0:
            return
        series = self._metrics[family]
        (series.labels(name, label) if label is not None else series.labels(name)).inc(amount)

    async def _usage(self, request: web.Request) -> web.Response:
        from aiohttp import web

        caller = CALLER.get()
        if caller is None:  # the single-token keyring always names the caller
            raise GatewayError(401, "invalid bearer token", code="invalid_api_key")
        assert self.limiter is not None
        used = await asyncio.to_thread(self.limiter.usage, caller.name)
        limits = caller.limits
        budget = limits.budget_usd
        body = {
            "object": "usage",
            "name": caller.name,
            "shared": self.limiter.shared,
            "window_seconds": self.limiter.window_seconds,
            "limits": {
                "requests_per_minute": limits.requests_per_minute,
                "tokens_per_minute": limits.tokens_per_minute,
                "budget_usd": budget,
            },
            "usage": {
                "requests_this_window": used.requests_this_window,
                "tokens_this_window": max(0, used.tokens_this_window),
                "spent_usd": round(used.spent_usd, 9),
            },
            "remaining_budget_usd": (
                None if budget is None else round(max(0.0, budget - used.spent_usd), 9)
            ),
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})


def _token_metrics(metrics: Any, names: list[str]) -> dict[str, Any]:
    """The per-token series on the gateway's own registry, every name at zero."""
    p, registry = metrics._prometheus, metrics.registry

    def counter(name: str, doc: str, labels: tuple[str, ...] = ("token",)) -> Any:
        return p.Counter(name, doc, labels, registry=registry)

    families = {
        "requests": counter(
            "sarvanom_gateway_token_requests", "Model calls admitted, by token name."
        ),
        "refused": counter(
            "sarvanom_gateway_token_refused",
            "Model calls refused (429), by token name and limit.",
            ("token", "limit"),
        ),
        "tokens": counter("sarvanom_gateway_token_tokens", "Tokens in answers, by token name."),
        "spend": counter("sarvanom_gateway_token_spend_usd", "USD spent, by token name."),
    }
    for name in names:
        for key in ("requests", "tokens", "spend"):
            families[key].labels(name)
    return families
