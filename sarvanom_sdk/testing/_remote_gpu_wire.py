"""The seed's free-GPU box: a FastAPI app behind a tunnel (Colab, Kaggle, HF Space).

``GET /health`` answers ``{"status": "healthy", "model": "gpt2"}``; ``POST /generate``
reads only ``prompt`` and answers ``{"content": ...}`` (it ignores ``max_tokens``, as the
seed's server does). Like that server, a body without ``prompt`` fails with a plain-text
``500 Internal Server Error`` and a body that is not JSON with FastAPI's 422. Errors are
FastAPI's ``{"detail": ...}``. No streaming; auth only when a key is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._answer import AnswerSettings, compose
from ._protocol import Incoming, Protocol, Route, fixed
from ._reply import Reply, json_reply, text_reply

MODEL = "gpt2"


class RemoteGpuSeed(Protocol):
    """``/health`` and ``/generate`` under ``base_path``."""

    messages: ClassVar[Mapping[int, str]] = {401: "Not authenticated"}
    unsupported: ClassVar[Mapping[str, str]] = {
        kind: "the seed's box " + why
        for kind, why in (
            ("complete_without_terminator", "cannot stream"),
            ("keepalive_stall", "cannot stream"),
            ("malformed_event", "cannot stream"),
            ("content_filter", "has no content filter"),
            ("context_length", "has no context-length error"),
            ("prefill_rejection", "takes a prompt, not a chat"),
        )
    }
    missing_key_message = "Not authenticated"
    bad_key_message = "Invalid bearer token"

    def __init__(self, name: str, base_path: str) -> None:
        super().__init__(name, base_path, auth_required=False)
        self._health = json_reply(200, {"status": "healthy", "model": MODEL})

    def routes(self) -> tuple[Route, ...]:
        return (
            Route("GET", "/health", "probe", fixed(self._health)),
            Route("POST", "/generate", "generate", self.generate),
        )

    def error_body(self, status: int, message: str, extra: Mapping[str, Any]) -> Any:
        return {"detail": message, **extra}

    def generate(self, incoming: Incoming, settings: AnswerSettings) -> Reply:
        if not incoming.json_ok:
            detail = [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}]
            return json_reply(422, {"detail": detail})
        body = incoming.json
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str):
            return text_reply(500, "Internal Server Error")
        answer = compose(self.name, prompt, prompt, None, settings)
        return json_reply(200, {"content": answer.text})
