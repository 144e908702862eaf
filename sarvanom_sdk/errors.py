"""The error tree. Every error the SDK raises is a :class:`SarvanError`.

::

    SarvanError
    ├── InvalidRequestError (ValueError)     bad input, raised before any network call
    ├── ConfigurationError (ValueError)      a malformed setting or environment variable
    ├── AllProvidersFailed                   strict mode: no real provider answered
    ├── StreamInterrupted                    a committed stream failed part-way
    └── ProviderError                        one provider's attempt failed
        ├── ProviderTimeout                  attempt timeout or the total deadline ran out
        │   └── StreamStalled                no content within the stream idle timeout
        ├── ProviderConnectionError          refused, reset, DNS, TLS
        ├── BadResponseError                 HTML, malformed JSON, a body with no answer in it
        │   └── ResponseTooLarge             the body passed the size limit
        ├── ContentFiltered                  the provider refused the content (its policy):
        │                                    raised to the caller unless
        │                                    on_content_filter="fallback"
        └── ProviderHTTPError                a non-2xx status
            ├── ClientRequestError           400/404/413/422: our request; does not trip the breaker
            │   └── ContextLengthExceeded    the prompt does not fit the model's context
            ├── AuthenticationError          401/403
            ├── RateLimited                  429 (``retry_after`` in seconds when known)
            └── ServerError                  5xx, 529 (overloaded), an unexpected redirect

Every ProviderError has an ``error_type`` (``timeout``, ``stalled``, ``connection``,
``malformed_reply``, ``too_large``, ``content_filter``, ``bad_request``, ``context_length``,
``auth``, ``rate_limited``, ``server_error``): the typed cause that
:class:`~sarvanom_sdk.types.Attempt` carries beside its reason string.

:func:`error_for_status` is the one place that maps an HTTP status onto this tree.

Messages never contain API keys or prompts: provider bodies are cut to a short excerpt
and passed through :func:`redact` before they are stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import Attempt

_MAX_DETAIL = 200
# Shapes of the secrets providers use (sk-..., sk-ant-..., hf_..., bearer tokens).
_SECRET_PATTERN = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|hf_[A-Za-z0-9]{6,}|(?i:bearer)\s+[A-Za-z0-9._\-]{6,})"
)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Return ``text`` with every given secret and every key-shaped token replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return _SECRET_PATTERN.sub("[REDACTED]", text)


def excerpt(text: str, limit: int = _MAX_DETAIL) -> str:
    """A single-line, bounded excerpt of a provider's body for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class SarvanError(Exception):
    """Base class of every error raised by sarvanom_sdk."""


class InvalidRequestError(SarvanError, ValueError):
    """The request is invalid; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConfigurationError(SarvanError, ValueError):
    """A setting is malformed; ``variable`` names the environment variable or field."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class AllProvidersFailed(SarvanError):
    """Raised in strict mode (``fallback_to_stub=False``) when no real provider answered."""

    def __init__(self, attempts: Sequence[Attempt], trace_id: str = "") -> None:
        self.attempts = tuple(attempts)
        self.trace_id = trace_id
        tried = "; ".join(f"{a.provider.value}: {a.reason}" for a in self.attempts) or "none"
        capable = all(a.error_type != "unsupported" for a in self.attempts)
        head = "no provider answered" if capable else "no capable provider was available"
        super().__init__(f"{head} ({tried})")


class StreamInterrupted(SarvanError):
    """A stream failed after its first chunk was delivered.

    The SDK never reports a cut stream as a clean finish: ``partial_text`` holds what was
    received, ``attempts`` the trail, ``cause`` the provider error.
    """

    def __init__(
        self, message: str, partial_text: str, attempts: Sequence[Attempt], trace_id: str = ""
    ) -> None:
        super().__init__(message)
        self.partial_text = partial_text
        self.attempts = tuple(attempts)
        self.trace_id = trace_id


class ProviderError(SarvanError):
    """One provider attempt failed.

    ``transient`` says whether retrying the same provider may help; ``trips_breaker``
    whether the failure counts against the provider's circuit breaker.
    """

    transient = True
    trips_breaker = True
    #: The typed cause shown in the attempt trail, logs and metrics (issue 13 item 9).
    error_type = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """The short reason shown in the attempt trail."""
        return str(self)


class ProviderTimeout(ProviderError):
    """The attempt did not finish within its timeout (or the total deadline)."""

    error_type = "timeout"


class StreamStalled(ProviderTimeout):
    """A stream sent no content within the stream idle timeout (keep-alive comments and
    empty events do not count as content)."""

    error_type = "stalled"


class ProviderConnectionError(ProviderError):
    """The connection could not be made or was lost."""

    error_type = "connection"


class BadResponseError(ProviderError):
    """The provider answered with something that is not a valid reply of its protocol."""

    transient = False
    error_type = "malformed_reply"


class ResponseTooLarge(BadResponseError):
    """The reply passed the configured size limit and was cut."""

    error_type = "too_large"


class ContentFiltered(ProviderError):
    """The provider refused to answer for its content policy (OpenAI
    ``content_policy_violation``/``content_filter``, Anthropic's ``refusal``).

    Never retried on the same provider and never counted against its breaker (the
    provider is up; the content is the cause). Raised to the caller, with ``attempts``
    (the trail) and ``partial_text`` (what a stream had delivered), unless
    ``on_content_filter="fallback"`` asks to try the next provider instead.
    ``reason`` is the provider's own word.
    """

    transient = False
    trips_breaker = False
    error_type = "content_filter"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.attempts: tuple[Attempt, ...] = ()
        self.trace_id = ""
        self.partial_text = ""


class ProviderHTTPError(ProviderError):
    """The provider answered with a non-2xx status."""

    error_type = "http_error"


class ClientRequestError(ProviderHTTPError):
    """4xx caused by our own request (bad model name, bad parameter).

    The provider is up, so the breaker does not count it; retrying would not help.
    """

    transient = False
    trips_breaker = False
    error_type = "bad_request"


class ContextLengthExceeded(ClientRequestError):
    """The prompt (plus ``max_tokens``) does not fit the model's context window.

    Not retried on the same provider, not counted by its breaker; the next provider (often
    a model with a larger window) is tried."""

    error_type = "context_length"


class AuthenticationError(ProviderHTTPError):
    """401/403: the key is missing, wrong or not allowed. Counts against the breaker."""

    transient = False
    error_type = "auth"


class RateLimited(ProviderHTTPError):
    """429: the provider asks us to slow down; ``retry_after`` in seconds when it said."""

    error_type = "rate_limited"


class ServerError(ProviderHTTPError):
    """5xx (including 529 overloaded) or a redirect the SDK refuses to follow."""

    error_type = "server_error"


#: Finish reasons that mean the provider refused for its content policy (OpenAI's
#: ``content_filter``, Anthropic's ``refusal``).
REFUSAL_FINISHES = frozenset({"content_filter", "refusal"})


def raise_if_refusal(finish_reason: str | None, provider: str) -> None:
    """Raise :class:`ContentFiltered` when an answer's finish reason says the provider
    refused it (a 200 reply or a stream that ended with a refusal)."""
    if finish_reason in REFUSAL_FINISHES:
        raise ContentFiltered(
            f"refused by the provider's content filter (finish_reason {finish_reason!r})",
            provider=provider,
        )


_CLIENT_STATUSES = frozenset({400, 404, 405, 409, 413, 415, 422})


def error_for_status(
    status: int,
    detail: str,
    *,
    provider: str = "",
    retry_after: float | None = None,
) -> ProviderHTTPError:
    """Map a non-2xx HTTP status onto the error tree (the only place that does so)."""
    cls: type[ProviderHTTPError]
    if status in (401, 403):
        cls = AuthenticationError
    elif status == 429:
        cls = RateLimited
    elif status in _CLIENT_STATUSES:
        cls = ClientRequestError
    elif 300 <= status < 400:
        cls = ServerError
        detail = "redirect refused (provider calls never follow redirects)"
    else:
        cls = ServerError
    message = f"HTTP {status}"
    if detail:
        message = f"{message}: {excerpt(redact(detail))}"
    return cls(message, provider=provider, status=status, retry_after=retry_after)
