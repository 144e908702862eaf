"""Ollama's REST API.

``POST /api/chat`` (``messages`` in, ``message`` out) and ``POST /api/generate``
(``prompt`` in, ``response`` out) stream NDJSON *by default*: one object per line, the last
with ``"done": true``, ``done_reason`` and the counts and durations (nanoseconds).
``"stream": false`` gives that last object alone, with the whole text. ``"think": true``
adds a separate ``thinking`` text, as reasoning models do. ``options.num_predict`` limits
the answer. ``GET /api/tags`` lists models; ``GET`` on the base URL says "Ollama is
running". Errors are ``{"error": "..."}``. No auth unless a key is configured (an auth
proxy in front).

The chat surface (``tools``, ``role: "tool"`` results, ``images``, ``format``,
``options.stop``; read by :mod:`._ollama_turn`, answered by :mod:`._chat`): a tool call is
``message.tool_calls: [{"function": {"name", "arguments": {...}}}]`` with empty content
and ``done_reason: "stop"``, sent whole in one line when streaming.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from ._answer import Answer, AnswerSettings, all_text, last_user_text
from ._chat import WireError, respond
from ._ollama_turn import read_turn
from ._protocol import Incoming, Protocol, Route, fixed
from ._reply import NDJSON_TYPE, Reply, json_reply, ndjson, stream_reply, text_reply

MODELS = (
    ("deepseek-r1:8b", "qwen3", "8.2B", "Q4_K_M", 5_225_376_047),
    ("llama3.2:3b", "llama", "3.2B", "Q4_K_M", 2_019_393_189),
)
_MODIFIED = "2025-05-29T10:12:31.386157083Z"
_NS_PER_PROMPT_TOKEN = 2_000_000
_NS_PER_OUTPUT_TOKEN = 20_000_000
_LOAD_NS = 1_000_000

Wrap = Callable[[str, str | None], dict[str, Any]]


class Ollama(Protocol):
    """``/api/chat``, ``/api/generate``, ``/api/tags`` and the root under ``base_path``."""

    messages: ClassVar[Mapping[int, str]] = {
        400: "invalid request",
        401: "unauthorized",
        404: 'model "deepseek-r1:8b" not found, try pulling it first',
        429: "server busy, please try again.  maximum pending requests exceeded",
        500: "llama runner process has terminated: exit status 2",
        503: "server busy, please try again.  maximum pending requests exceeded",
    }
    missing_key_message = bad_key_message = "unauthorized"
    unsupported: ClassVar[Mapping[str, str]] = {
        "complete_without_terminator": "Ollama's last NDJSON line (\"done\": true) is both its "
        "finish marker and its terminator",
        "content_filter": "Ollama has no content filter",
        "context_length": "Ollama has no context-length error: it silently truncates the "
        "prompt to num_ctx",
        "prefill_rejection": "Ollama accepts assistant prefill",
    }

    def __init__(self, name: str, base_path: str) -> None:
        super().__init__(name, base_path, auth_required=False)
        listing = [
            {
                "name": model,
                "model": model,
                "modified_at": _MODIFIED,
                "size": size,
                "digest": hashlib.sha256(model.encode()).hexdigest(),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": family,
                    "families": [family],
                    "parameter_size": params,
                    "quantization_level": quant,
                },
            }
            for model, family, params, quant, size in MODELS
        ]
        self._tags = json_reply(200, {"models": listing})
        self._root = text_reply(200, "Ollama is running")

    def routes(self) -> tuple[Route, ...]:
        return (
            Route("POST", "/api/chat", "generate", self.chat),
            Route("POST", "/api/generate", "generate", self.generate),
            Route("GET", "/api/tags", "probe", fixed(self._tags)),
            Route("GET", "", "probe", fixed(self._root)),
        )

    def error_body(self, status: int, message: str, extra: Mapping[str, Any]) -> Any:
        return {"error": message, **extra}

    def stream_error(self) -> bytes:
        return ndjson({"error": "an error was encountered while running the model: unexpected EOF"})

    def chat(self, incoming: Incoming, settings: AnswerSettings) -> Reply:
        def wrap(content: str, thinking: str | None) -> dict[str, Any]:
            message = {"role": "assistant", "content": content}
            if thinking is not None:
                message["thinking"] = thinking
            return {"message": message}

        body = incoming.json
        messages = body.get("messages") if isinstance(body, dict) else None
        if messages is not None and not isinstance(messages, list):
            return self.error(400, "json: cannot unmarshal messages")
        prompt = last_user_text(messages)
        return self._run(incoming, settings, prompt, all_text(messages), wrap, chat=True)

    def generate(self, incoming: Incoming, settings: AnswerSettings) -> Reply:
        def wrap(response: str, thinking: str | None) -> dict[str, Any]:
            fields = {"response": response}
            if thinking is not None:
                fields["thinking"] = thinking
            return fields

        body = incoming.json
        prompt = body.get("prompt") if isinstance(body, dict) else None
        text = prompt if isinstance(prompt, str) else ""
        return self._run(incoming, settings, text, text, wrap, chat=False)

    def _run(
        self,
        incoming: Incoming,
        settings: AnswerSettings,
        prompt: str,
        sent: str,
        wrap: Wrap,
        *,
        chat: bool,
    ) -> Reply:
        """Shared by chat and generate; ``wrap`` puts text where that endpoint wants it."""
        body = incoming.json
        if not isinstance(body, dict):
            return self.error(400, "invalid character looking for beginning of value")
        if not body.get("model"):
            return self.error(400, "model is required")
        options = body.get("options")
        limit = options.get("num_predict") if isinstance(options, dict) else None
        try:
            turn = read_turn(body, chat=chat)
        except WireError as refused:
            return self.error(400, refused.message)
        answer = respond(turn, self.name, prompt, sent, limit, settings)
        thinking = f"Emulated reasoning about: {prompt[:40]}" if body.get("think") else None
        run = _Run(str(body["model"]), answer, wrap)
        return run.whole(thinking) if body.get("stream") is False else run.stream(thinking)


class _Run:
    """One generation's lines: progress lines and the final ``done`` line with counts."""

    def __init__(self, model: str, answer: Answer, wrap: Wrap) -> None:
        self.model = model
        self.answer = answer
        self.wrap = wrap
        self.created_at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")

    def line(self, text: str, thinking: str | None = None) -> dict[str, Any]:
        return {"model": self.model, "created_at": self.created_at, **self.wrap(text, thinking)}

    def calling(self, line: dict[str, Any]) -> dict[str, Any]:
        """``line`` with the whole tool call in its message (``/api/chat`` only)."""
        call = self.answer.tool_call
        assert call is not None
        function = {"name": call.name, "arguments": dict(call.arguments)}
        line["message"]["tool_calls"] = [{"function": function}]
        return line

    def final(self, text: str, thinking: str | None) -> dict[str, Any]:
        answer = self.answer
        prompt_ns = answer.prompt_tokens * _NS_PER_PROMPT_TOKEN
        eval_ns = answer.completion_tokens * _NS_PER_OUTPUT_TOKEN
        return {
            **self.line(text, thinking),
            "done": True,
            "done_reason": "length" if answer.ending == "truncated" else "stop",
            "total_duration": _LOAD_NS + prompt_ns + eval_ns,
            "load_duration": _LOAD_NS,
            "prompt_eval_count": answer.prompt_tokens,
            "prompt_eval_duration": prompt_ns,
            "eval_count": answer.completion_tokens,
            "eval_duration": eval_ns,
        }

    def whole(self, thinking: str | None) -> Reply:
        final = self.final(self.answer.text, thinking)
        if self.answer.tool_call is not None:
            final = self.calling(final)
        return json_reply(200, final)

    def stream(self, thinking: str | None) -> Reply:
        preamble = [] if thinking is None else [ndjson({**self.line("", thinking), "done": False})]
        if self.answer.tool_call is not None:
            content = [ndjson({**self.calling(self.line("")), "done": False})]
        else:
            content = [ndjson({**self.line(piece), "done": False}) for piece in self.answer.pieces]
        return stream_reply(NDJSON_TYPE, preamble, content, [], ndjson(self.final("", None)))
