"""Hugging Face Inference: the OpenAI-compatible router and the legacy task API.

Both need ``Authorization: Bearer``. Errors are Hugging Face's flat ``{"error": "..."}``
(not OpenAI's nested object), which an adapter must parse too.

- Router: ``{base}/v1/chat/completions`` and ``{base}/v1/models``, OpenAI's protocol.
- Task API: ``POST /models/{model}`` with ``{"inputs", "parameters": {"max_new_tokens",
  "return_full_text", ...}}`` answers ``[{"generated_text": ...}]``; the prompt is repeated
  at the front unless ``return_full_text`` is false; ``parameters.stop`` (a list) cuts the
  answer before the earliest stop sequence, ``seed`` is accepted. Its 503 carries
  ``estimated_time`` (the model is loading; retry later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._answer import AnswerSettings, compose
from ._chat import stop_list
from ._openai_wire import OpenAICompatible
from ._protocol import Incoming, Protocol, Route
from ._reply import Reply, json_reply

ROUTER_MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct")
LOADING_SECONDS = 20.0


class HuggingFaceErrors:
    """Hugging Face's error shape and messages, shared by both of its APIs."""

    messages: ClassVar[Mapping[int, str]] = {
        400: "Input validation error",
        403: "This authentication method does not have sufficient permissions",
        404: "Model not found",
        429: "Rate limit reached. You reached free usage limit (reset hourly).",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }
    missing_key_message = "Invalid username or password."
    bad_key_message = "Invalid credentials in Authorization header"

    def error_body(self, status: int, message: str, extra: Mapping[str, Any]) -> Any:
        return {"error": message, **extra}

    def bad_key_extra(self) -> Mapping[str, Any]:
        return {}


class HuggingFaceRouter(HuggingFaceErrors, OpenAICompatible):
    """The router: OpenAI's protocol with Hugging Face's auth messages and error shape."""


class HuggingFaceTask(HuggingFaceErrors, Protocol):
    """The legacy text-generation task API under ``base_path``."""

    messages: ClassVar[Mapping[int, str]] = {
        **HuggingFaceErrors.messages,
        503: "Model is currently loading",
    }
    unsupported: ClassVar[Mapping[str, str]] = {
        kind: "the task API " + why
        for kind, why in (
            ("complete_without_terminator", "cannot stream"),
            ("keepalive_stall", "cannot stream"),
            ("malformed_event", "cannot stream"),
            ("content_filter", "has no content filter"),
            ("prefill_rejection", "takes a prompt, not a chat"),
        )
    }

    def context_length_error(self, limit: int, tokens: int) -> Reply | None:
        """TGI's input validation error (422, ``error_type: "validation"``)."""
        message = f"Input validation error: `inputs` must have less than {limit} tokens. " + (
            f"Given: {tokens}"
        )
        return json_reply(422, {"error": message, "error_type": "validation"})

    def __init__(self, name: str, base_path: str) -> None:
        super().__init__(name, base_path, auth_required=True)

    def routes(self) -> tuple[Route, ...]:
        return (Route("POST", "/models/{model:.+}", "generate", self.infer),)

    def error_body(self, status: int, message: str, extra: Mapping[str, Any]) -> Any:
        """As the router's, but a 503 also says how long the model will take to load."""
        body = super().error_body(status, message, extra)
        if status == 503:
            body.setdefault("estimated_time", LOADING_SECONDS)
        return body

    def infer(self, incoming: Incoming, settings: AnswerSettings) -> Reply:
        body = incoming.json
        if not isinstance(body, dict):
            return self.error(400, "Failed to deserialize the JSON body")
        inputs = body.get("inputs")
        if not isinstance(inputs, str):
            return self.error(400, "Input validation error: `inputs` must be a string")
        parameters = body.get("parameters")
        params = parameters if isinstance(parameters, dict) else {}
        limit, stop = params.get("max_new_tokens"), stop_list(params.get("stop"))
        answer = compose(self.name, inputs, inputs, limit, settings, stop=stop)
        full = params.get("return_full_text", True) is not False
        text = f"{inputs} {answer.text}" if full else answer.text
        return json_reply(200, [{"generated_text": text}])
