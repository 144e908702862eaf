"""OpenAI Chat Completions, as spoken by OpenAI and every OpenAI-compatible server.

``POST {base}/chat/completions`` answers a ``chat.completion`` object, or with
``"stream": true`` an SSE stream of ``chat.completion.chunk`` events (a role chunk, content
chunks, a ``finish_reason`` chunk, the usage chunk with ``"choices": []`` when
``stream_options.include_usage`` is set) ending ``data: [DONE]``. ``GET {base}/models``
lists models. Errors are ``{"error": {"message", "type", "param", "code"}}``.

The chat surface (tools, ``response_format``, image parts, ``stop``; read by
:mod:`._openai_turn`, answered by :mod:`._chat`): a tool call is ``message.tool_calls:
[{"id": "call_...", "type": "function", "function": {"name", "arguments": <JSON
text>}}]`` with ``"content": null`` and ``finish_reason: "tool_calls"``; streamed, the
first ``delta.tool_calls`` entry (``index`` 0) carries the role, id, type and name with
``"arguments": ""``, the next ones the arguments in pieces (``index`` and
``function.arguments`` only).

:class:`RemoteGpuOpenAI` is a llama.cpp/vLLM-like box: the same API under ``/v1`` plus
``GET /health``, with auth only when a key is configured.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from ._answer import Answer, AnswerSettings, all_text, last_user_text, random_id
from ._chat import WireError, respond
from ._openai_turn import read_turn
from ._protocol import Incoming, Protocol, Route, fixed
from ._reply import SSE_TYPE, Reply, json_reply, sse, stream_reply

SYSTEM_FINGERPRINT = "fp_e1a7c0de5e"
CONTENT_POLICY_MESSAGE = (
    "Your request was rejected as a result of our safety system. Your prompt may contain "
    "text that is not allowed by our safety system."
)
DONE = b"data: [DONE]\n\n"
_MODELS_CREATED = 1_715_367_049

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "requests",
}
_CODES = {404: "model_not_found", 429: "rate_limit_exceeded"}
FINISH_REASONS = {
    "tool_call": "tool_calls",
    "refused": "content_filter",
    "truncated": "length",
    "stop_sequence": "stop",
    "done": "stop",
}


class OpenAICompatible(Protocol):
    """Chat Completions and the model list under ``base_path + api_prefix``."""

    messages: ClassVar[Mapping[int, str]] = {
        400: "Invalid request.",
        403: "You are not allowed to sample from this model",
        404: "The model does not exist or you do not have access to it.",
        429: "Rate limit reached for requests. Please try again in 1s.",
        500: "The server had an error while processing your request. Sorry about that!",
        502: "Bad gateway.",
        503: "The engine is currently overloaded, please try again later",
    }
    missing_key_message = (
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
    )
    bad_key_message = (
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )
    retry_after_ms = True

    def __init__(
        self,
        name: str,
        base_path: str,
        *,
        models: tuple[str, ...],
        owned_by: str,
        api_prefix: str = "",
        auth_required: bool = True,
    ) -> None:
        super().__init__(name, base_path, auth_required=auth_required)
        self.api_prefix = api_prefix
        listing = [
            {"id": m, "object": "model", "created": _MODELS_CREATED, "owned_by": owned_by}
            for m in models
        ]
        self._models = json_reply(200, {"object": "list", "data": listing})

    def routes(self) -> tuple[Route, ...]:
        prefix = self.api_prefix
        return (
            Route("POST", f"{prefix}/chat/completions", "generate", self.chat),
            Route("GET", f"{prefix}/models", "probe", fixed(self._models)),
        )

    def error_body(self, status: int, message: str, extra: Mapping[str, Any]) -> Any:
        error = {
            "message": message,
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request"),
            "param": None,
            "code": _CODES.get(status),
        }
        error.update(extra)
        return {"error": error}

    def bad_key_extra(self) -> Mapping[str, Any]:
        return {"code": "invalid_api_key"}

    def context_length_error(self, limit: int, tokens: int) -> Reply | None:
        message = (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {tokens} tokens. Please reduce the length of the messages."
        )
        return _openai_error(message, param="messages", code="context_length_exceeded")

    def content_filter_error(self) -> Reply | None:
        return _openai_error(CONTENT_POLICY_MESSAGE, code="content_policy_violation")

    def prefill_error(self, message: str) -> Reply | None:
        return _openai_error(message, param="messages")

    def stream_error(self) -> bytes:
        return sse(self.error_body(500, self.messages[500], {}))

    def chat(self, incoming: Incoming, settings: AnswerSettings) -> Reply:
        body = incoming.json
        if not isinstance(body, dict):
            return self.error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            )
        for field in ("model", "messages"):
            if field not in body:
                return self.error(
                    400,
                    f"Missing required parameter: '{field}'.",
                    extra={"param": field, "code": "missing_required_parameter"},
                )
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            return self.error(
                400,
                "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                extra={"param": "messages", "code": "empty_array"},
            )
        try:
            turn = read_turn(body)
        except WireError as refused:
            return self.error(400, refused.message, extra=refused.extra)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        prompt = last_user_text(messages)
        answer = respond(turn, self.name, prompt, all_text(messages), limit, settings)
        completion = _Completion(str(body["model"]), answer)
        if body.get("stream") is True:
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            return completion.stream(include_usage=usage)
        return completion.whole()


class RemoteGpuOpenAI(OpenAICompatible):
    """A self-hosted OpenAI-compatible box: ``/v1/...`` plus ``GET /health``. Its
    context-length and prefill errors are llama.cpp's (``{"error": {"code", "message",
    "type"}}``, see ``tests/real_model/golden/``); it has no content filter."""

    unsupported: ClassVar[Mapping[str, str]] = {
        "content_filter": "a self-hosted llama.cpp/vLLM box has no content filter",
    }

    def context_length_error(self, limit: int, tokens: int) -> Reply | None:
        message = (
            f"request ({tokens} tokens) exceeds the available context size ({limit} "
            "tokens), try increasing it"
        )
        error = {
            "code": 400,
            "message": message,
            "type": "exceed_context_size_error",
            "n_prompt_tokens": tokens,
            "n_ctx": limit,
        }
        return json_reply(400, {"error": error})

    def prefill_error(self, message: str) -> Reply | None:
        error = {"code": 400, "message": message, "type": "invalid_request_error"}
        return json_reply(400, {"error": error})

    def routes(self) -> tuple[Route, ...]:
        health = json_reply(200, {"status": "ok"})
        return (*super().routes(), Route("GET", "/health", "probe", fixed(health)))


def _openai_error(message: str, *, param: str | None = None, code: str | None = None) -> Reply:
    """A 400 in OpenAI's shape (explicitly, whatever the protocol's ``error_body``)."""
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_reply(400, {"error": error})


class _Completion:
    """One chat completion's identity (id, time, model) and its two wire renderings."""

    def __init__(self, model: str, answer: Answer) -> None:
        self.model = model
        self.answer = answer
        self.id = random_id("chatcmpl-", 29)
        self.created = int(time.time())
        self.finish = FINISH_REASONS[answer.ending]
        self.call_id = random_id("call_", 24)
        self.headers = (("x-request-id", random_id("req_", 32)),)

    def usage(self) -> dict[str, Any]:
        answer = self.answer
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.total_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def whole(self) -> Reply:
        message: dict[str, Any] = {"role": "assistant", "content": self.answer.text}
        call = self.answer.tool_call
        if call is not None:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": self.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
            ]
        message["refusal"] = None
        return json_reply(
            200,
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": self.finish,
                    }
                ],
                "usage": self.usage(),
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            },
            self.headers,
        )

    def stream(self, *, include_usage: bool) -> Reply:
        def chunk(choices: list[Any], usage: dict[str, Any] | None = None) -> bytes:
            event: dict[str, Any] = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices,
            }
            if include_usage:
                event["usage"] = usage
            return sse(event)

        def choice(delta: dict[str, Any], finish: str | None = None) -> list[Any]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        closing = [chunk(choice({}, self.finish))]
        if include_usage:
            closing.append(chunk([], self.usage()))
        call = self.answer.tool_call
        if call is None:
            preamble = [chunk(choice({"role": "assistant", "content": "", "refusal": None}))]
            content = [chunk(choice({"content": piece})) for piece in self.answer.pieces]
        else:
            opening = {
                "index": 0,
                "id": self.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            first = {"role": "assistant", "content": None, "tool_calls": [opening]}
            preamble = []
            content = [chunk(choice({**first, "refusal": None}))] + [
                chunk(choice({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
                for piece in call.pieces
            ]
        return stream_reply(
            SSE_TYPE,
            preamble,
            content,
            closing,
            DONE,
            self.headers,
        )
