"""What every emulated wire protocol provides, and the parts they share.

A protocol is pure: it turns a parsed request (:class:`Incoming`) into a :class:`Reply`
and knows its provider's error body shape, its auth rule and its mid-stream error event.
The emulator owns the sockets; protocols never see them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Literal

from ._answer import AnswerSettings
from ._reply import Headers, Reply, dumps, json_reply


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request as a protocol sees it. ``json_ok`` is false for an empty or unparsable
    body (``json`` is then ``None``); ``match`` holds the route's path parameters."""

    json: Any
    json_ok: bool
    match: Mapping[str, str]
    headers: Mapping[str, str]


Build = Callable[[Incoming, AnswerSettings], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint, ``path`` relative to the protocol's base path."""

    method: str
    path: str
    endpoint: Literal["generate", "probe"]
    build: Build


def fixed(reply: Reply) -> Build:
    """A route body that always answers ``reply`` (probes: built once, served many times)."""

    def build(_incoming: Incoming, _settings: AnswerSettings) -> Reply:
        return reply

    return build


class Protocol(ABC):
    """One provider's wire protocol, served under ``base_path`` (what ``url_for`` returns).

    Auth: a request must carry a credential (``Authorization: Bearer <key>``) when the real
    API requires one (``auth_required``) or a key was configured for the provider; with a
    configured key, the credential must equal it. Failures get the provider's 401.
    """

    messages: ClassVar[Mapping[int, str]] = {}
    """Default error message per status; other statuses use the HTTP reason phrase."""
    missing_key_message: ClassVar[str] = "Not authenticated"
    bad_key_message: ClassVar[str] = "Invalid credentials"
    retry_after_ms: ClassVar[bool] = False
    unsupported: ClassVar[Mapping[str, str]] = {}
    """Fault kinds this provider has no real shape for, and why (``inject`` refuses them)."""

    def __init__(self, name: str, base_path: str, *, auth_required: bool) -> None:
        self.name = name
        self.base_path = base_path
        self.auth_required = auth_required

    @abstractmethod
    def routes(self) -> tuple[Route, ...]:
        """The endpoints this protocol serves."""

    @abstractmethod
    def error_body(self, status: int, message: str, extra: Mapping[str, Any]) -> Any:
        """The provider's JSON error body; ``extra`` adds provider-specific fields."""

    def stream_error(self) -> bytes:
        """The event this provider sends when a stream fails after it has started (for
        protocols that stream; the default is the 500 error body as one line)."""
        return dumps(self.error_body(500, _reason(500), {})) + b"\n"

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> Reply:
        """A complete error reply in the provider's shape, with ``retry-after`` if given."""
        text = message or self.messages.get(status) or _reason(status)
        return json_reply(
            status, self.error_body(status, text, extra or {}), self.retry_headers(retry_after)
        )

    def retry_headers(self, retry_after: float | None) -> Headers:
        if retry_after is None:
            return ()
        seconds = ("retry-after", f"{retry_after:g}")
        if not self.retry_after_ms:
            return (seconds,)
        return seconds, ("retry-after-ms", str(round(retry_after * 1000)))

    def context_length_error(self, limit: int, tokens: int) -> Reply | None:
        """The provider's "prompt too long" reply (``None``: it has none)."""
        return None

    def content_filter_error(self) -> Reply | None:
        """The provider's refusal of a prompt as an HTTP error (``None``: it refuses in its
        answer instead, or has no content filter; see ``unsupported``)."""
        return None

    def prefill_error(self, message: str) -> Reply | None:
        """The provider's refusal of a chat ending with an assistant message."""
        return None

    def check(self, headers: Mapping[str, str], key: str | None) -> Reply | None:
        """The 401 reply for a request whose credentials fail, else ``None``."""
        if not (self.auth_required or key is not None):
            return None
        token = self.credential(headers)
        if not token.strip():
            return self.error(401, self.missing_key_message)
        if key is not None and token != key:
            return self.error(401, self.bad_key_message, extra=self.bad_key_extra())
        return None

    def credential(self, headers: Mapping[str, str]) -> str:
        """The key the request presents ("" if none): the bearer token."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else ""

    def bad_key_extra(self) -> Mapping[str, Any]:
        """Extra error fields for a wrong key (OpenAI's ``code: invalid_api_key``)."""
        return {}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
