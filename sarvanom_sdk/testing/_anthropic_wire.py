"""Anthropic Messages API.

``POST /v1/messages`` needs a key (``x-api-key``, or ``Authorization: Bearer``), an
``anthropic-version`` header, and ``model``, ``max_tokens`` and ``messages`` in the body.
It answers a ``message`` object, or with ``"stream": true`` the SSE sequence
``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``
(``text_delta``) events, ``content_block_stop``, ``message_delta`` (stop reason, usage)
and ``message_stop``. ``GET /v1/models`` lists models. Errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}``; 529 is overloaded.

The chat surface (tools, ``tool_choice``, ``tool_result`` and ``image`` blocks,
``stop_sequences``; read by :mod:`._anthropic_turn`, answered by :mod:`._chat`): a tool
call is a ``{"type": "tool_use", "id": "toolu_...", "name", "input"}`` content block with
``stop_reason: "tool_use"``; streamed, ``content_block_start`` carries the block with
``"input": {}`` and ``input_json_delta`` deltas carry its JSON in ``partial_json``
pieces. A stop sequence ends the text with ``stop_reason: "stop_sequence"`` and
``stop_sequence`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._answer import Answer, AnswerSettings, all_text, last_user_text, random_id
from ._anthropic_turn import read_turn
from ._chat import WireError, respond
from ._protocol import Incoming, Protocol, Route, fixed
from ._reply import SSE_TYPE, Reply, json_reply, sse, stream_reply

MODELS = (
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14T00:00:00Z"),
)
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_REQUIRED = ("model", "max_tokens", "messages")
STOP_REASONS = {
    "tool_call": "tool_use",
    "refused": "refusal",
    "truncated": "max_tokens",
    "stop_sequence": "stop_sequence",
    "done": "end_turn",
}


class Anthropic(Protocol):
    """The Messages API under ``base_path`` (``/v1/messages``, ``/v1/models``)."""

    messages: ClassVar[Mapping[int, str]] = {
        400: "Invalid request.",
        403: "Your API key does not have permission to use the specified resource.",
        404: "The requested resource could not be found.",
        429: "Number of request tokens has exceeded your per-minute rate limit.",
        500: "Internal server error",
        529: "Overloaded",
    }
    missing_key_message = "x-api-key header is required"
    bad_key_message = "invalid x-api-key"
    unsupported: ClassVar[Mapping[str, str]] = {
        "prefill_rejection": "Anthropic accepts assistant prefill natively",
    }

    def __init__(self, name: str, base_path: str) -> None:
        super().__init__(name, base_path, auth_required=True)
        listing = [
            {"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in MODELS
        ]
        self._models = json_reply(
            200,
            {
                "data": listing,
                "has_more": False,
                "first_id": MODELS[0][0],
                "last_id": MODELS[-1][0],
            },
        )

    def routes(self) -> tuple[Route, ...]:
        return (
            Route("POST", "/v1/messages", "generate", self.create),
            Route("GET", "/v1/models", "probe", fixed(self._models)),
        )

    def error_body(self, status: int, message: str, extra: Mapping[str, Any]) -> Any:
        kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": message, **extra},
            "request_id": random_id("req_01", 22),
        }

    def stream_error(self) -> bytes:
        return sse({"type": "error", "error": _overloaded()}, "error")

    def context_length_error(self, limit: int, tokens: int) -> Reply | None:
        return self.error(400, f"prompt is too long: {tokens} tokens > {limit} maximum")

    def credential(self, headers: Mapping[str, str]) -> str:
        """``x-api-key``, or a bearer token (current clients send keys that way too)."""
        return headers.get("x-api-key") or super().credential(headers)

    def check(self, headers: Mapping[str, str], key: str | None) -> Reply | None:
        """Credentials first (as the real API does), then ``anthropic-version``."""
        failed = super().check(headers, key)
        if failed is None and not headers.get("anthropic-version"):
            return self.error(400, "anthropic-version: header is required")
        return failed

    def create(self, incoming: Incoming, settings: AnswerSettings) -> Reply:
        body = incoming.json
        if not isinstance(body, dict):
            return self.error(400, "There was an error parsing the body of your request.")
        for field in _REQUIRED:
            if field not in body:
                return self.error(400, f"{field}: Field required")
        limit, messages = body["max_tokens"], body["messages"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return self.error(400, "max_tokens: Input should be a valid integer greater than 0")
        if not isinstance(messages, list) or not messages:
            return self.error(400, "messages: at least one message is required")
        try:
            turn = read_turn(body)
        except WireError as refused:
            return self.error(400, refused.message)
        prompt_text = all_text(messages, body.get("system"))
        answer = respond(turn, self.name, last_user_text(messages), prompt_text, limit, settings)
        message = _Message(str(body["model"]), answer)
        return message.stream() if body.get("stream") is True else message.whole()


def _overloaded() -> dict[str, str]:
    return {"type": "overloaded_error", "message": "Overloaded"}


class _Message:
    """One message's identity and its two wire renderings."""

    def __init__(self, model: str, answer: Answer) -> None:
        self.model = model
        self.answer = answer
        self.id = random_id("msg_01", 22)
        self.stop_reason = STOP_REASONS[answer.ending]
        self.tool_id = random_id("toolu_01", 22)
        self.headers = (("request-id", random_id("req_01", 22)),)

    def envelope(self, content: list[Any], stop_reason: str | None, output: int) -> Any:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": self.answer.stop_sequence if stop_reason else None,
            "usage": {
                "input_tokens": self.answer.prompt_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output,
            },
        }

    def whole(self) -> Reply:
        answer = self.answer
        content: list[dict[str, Any]] = (
            [_text(answer.text)] if answer.text or not answer.refused else []
        )
        call = answer.tool_call
        if call is not None:
            content = [{**self._tool_use(), "input": dict(call.arguments)}]
        body = self.envelope(content, self.stop_reason, answer.completion_tokens)
        return json_reply(200, body, self.headers)

    def _tool_use(self) -> dict[str, Any]:
        call = self.answer.tool_call
        assert call is not None
        return {"type": "tool_use", "id": self.tool_id, "name": call.name}

    def _deltas(self) -> list[bytes]:
        """The content block's delta events: text, or the tool input's JSON in pieces."""
        call = self.answer.tool_call
        if call is None:
            deltas = [_text(piece, "_delta") for piece in self.answer.pieces]
        else:
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in call.pieces]
        return [
            sse({"type": "content_block_delta", "index": 0, "delta": d}, "content_block_delta")
            for d in deltas
        ]

    def stream(self) -> Reply:
        answer = self.answer
        start = {"type": "message_start", "message": self.envelope([], None, 1)}
        opening = _text("") if answer.tool_call is None else {**self._tool_use(), "input": {}}
        block = {"type": "content_block_start", "index": 0, "content_block": opening}
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": answer.stop_sequence},
            "usage": {"output_tokens": self.answer.completion_tokens},
        }
        return stream_reply(
            SSE_TYPE,
            [
                sse(start, "message_start"),
                sse(block, "content_block_start"),
                sse({"type": "ping"}, "ping"),
            ],
            self._deltas(),
            [
                sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                sse(delta, "message_delta"),
            ],
            sse({"type": "message_stop"}, "message_stop"),
            self.headers,
        )


def _text(text: str, suffix: str = "") -> dict[str, str]:
    return {"type": "text" + suffix, "text": text}
