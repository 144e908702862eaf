"""Hugging Face: the Inference Providers router (OpenAI protocol) or the legacy task API.

``HUGGINGFACE_API=router`` (default): :class:`~.openai.OpenAIAdapter` at
``HUGGINGFACE_BASE_URL`` (``https://router.huggingface.co/v1``), ``Authorization: Bearer
$HUGGINGFACE_API_KEY``, model in the body; health ``GET {base}/models``.

``HUGGINGFACE_API=task``: the text-generation task API (self-hosted TGI, some models)::

    POST {base}/models/{model}       (model quoted; '..', '?', '#', '%' refused: _model_path)
    {"inputs": system + prompt, "parameters": {"max_new_tokens", "temperature",
                                               "return_full_text": false,
                                               "stop", "seed", "top_p"}}  # when set
    -> [{"generated_text": "..."}]   (a bare {"generated_text"} object is accepted too)

A 503 ``{"error": "... is currently loading", "estimated_time": 20.0}`` is a
:class:`~sarvanom_sdk.errors.ServerError` whose ``retry_after`` is ``estimated_time`` (a
``retry-after`` header wins). TGI refuses ``temperature: 0``, so a greedy request sends
``"do_sample": false`` instead. With ``HUGGINGFACE_BASE_URL`` left at the router default,
task mode posts to ``https://router.huggingface.co/hf-inference`` (where Hugging Face serves
the task API now). Task mode has no health probe (``health_call()`` is None): there is no
cheap documented endpoint for it, so its health comes from real calls.

This module also holds what the remote-GPU adapter shares with it: the skeleton of a
prompt-only protocol that cannot stream, and the adapter that switches between protocols.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError
from ..http import HttpCall, HttpReply
from ..settings import Settings
from ..types import LLMRequest, ProviderName
from ._model_path import check_model_path, model_path
from ._wire import WireAdapter, as_dict, bearer
from .base import Completion, ProviderAdapter, StreamDecoder, StreamEvent
from .openai import OpenAIAdapter

__all__ = [
    "BufferedDecoder",
    "HuggingFaceAdapter",
    "HuggingFaceTaskProtocol",
    "PromptProtocol",
    "ProtocolSwitch",
]

ROUTER_BASE_URL = "https://router.huggingface.co/v1"
TASK_BASE_URL = "https://router.huggingface.co/hf-inference"


class ProtocolSwitch:
    """An adapter that speaks one of several wire protocols, chosen at construction:
    ``protocol`` names it, and every call goes to that protocol's adapter."""

    __slots__ = (
        "name",
        "paid",
        "default_model",
        "secrets",
        "capabilities",
        "context_window",
        "protocol",
        "_wire",
    )

    def __init__(self, protocol: str, wire: ProviderAdapter) -> None:
        self.protocol = protocol
        self._wire = wire
        self.name = wire.name
        self.paid = wire.paid
        self.default_model = wire.default_model
        self.secrets = wire.secrets
        self.capabilities = wire.capabilities
        self.context_window = wire.context_window

    def build(self, request: LLMRequest, *, stream: bool = False) -> HttpCall:
        return self._wire.build(request, stream=stream)

    def parse(self, reply: HttpReply) -> Completion:
        return self._wire.parse(reply)

    def stream_decoder(self) -> StreamDecoder:
        return self._wire.stream_decoder()

    def health_call(self) -> HttpCall | None:
        return self._wire.health_call()


class HuggingFaceAdapter(ProtocolSwitch):
    """Hugging Face through ``api`` (``"router"`` or ``"task"``); free tier (not paid)."""

    __slots__ = ()

    def __init__(
        self,
        *,
        api_key: str | None,
        default_model: str,
        base_url: str = ROUTER_BASE_URL,
        api: str = "router",
    ) -> None:
        wire: ProviderAdapter
        if api == "router":
            wire = OpenAIAdapter(
                name=ProviderName.HUGGINGFACE,
                base_url=base_url,
                api_key=api_key,
                default_model=default_model,
                paid=False,
            )
        elif api == "task":
            if base_url.rstrip("/") == ROUTER_BASE_URL:
                base_url = TASK_BASE_URL
            wire = HuggingFaceTaskProtocol(
                base_url=base_url, api_key=api_key, default_model=default_model
            )
        else:
            raise ConfigurationError("HUGGINGFACE_API", f"must be router or task, got {api!r}")
        super().__init__(api, wire)

    @classmethod
    def from_settings(cls, settings: Settings) -> HuggingFaceAdapter:
        """``HUGGINGFACE_API``, ``HUGGINGFACE_BASE_URL``, ``HUGGINGFACE_API_KEY``,
        ``HUGGINGFACE_MODEL``."""
        return cls(
            api_key=settings.huggingface_api_key,
            default_model=settings.huggingface_model,
            base_url=settings.huggingface_base_url,
            api=settings.huggingface_api,
        )


class PromptProtocol(WireAdapter, ABC):
    """A prompt-in, JSON-out protocol that cannot stream (Hugging Face's task API, the
    seed's GPU box): one POST with a JSON body, one JSON answer; free.

    ``Authorization: Bearer`` is sent only when a token is set; ``extra_headers`` always.
    A streamed request is sent as a normal one, and its decoder is a
    :class:`BufferedDecoder`. Subclasses give the URL and body, and read the answer.
    """

    __slots__ = ()

    #: Where the answer is, for the error when a 2xx body holds none.
    answer_field = "answer"

    def __init__(
        self,
        name: ProviderName,
        default_model: str,
        token: str | None,
        extra_headers: Mapping[str, str] | None = None,
        health_url: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            paid=False,
            default_model=default_model,
            secret=token,
            headers={**(extra_headers or {}), **bearer(token)},
            health_url=health_url,
        )

    def build(self, request: LLMRequest, *, stream: bool = False) -> HttpCall:
        """The one POST (``stream`` is ignored: the protocol has no stream)."""
        return self._post_call(*self._request(request))

    def parse(self, reply: HttpReply) -> Completion:
        data = self._reply_json(reply)
        completion = self._answer(data)
        if completion is None:
            raise self._no_answer(data, self.answer_field, reply)
        return completion

    def stream_decoder(self) -> BufferedDecoder:
        return BufferedDecoder(self.parse)

    @abstractmethod
    def _request(self, request: LLMRequest) -> tuple[str, dict[str, Any]]:
        """The URL and JSON body for ``request``."""

    @abstractmethod
    def _answer(self, data: Any) -> Completion | None:
        """The answer in a 2xx JSON body, or None when it holds none."""


class HuggingFaceTaskProtocol(PromptProtocol):
    """The text-generation task API: ``POST {base}/models/{model}``. Of the chat surface
    it carries ``stop`` and ``seed`` (``parameters.stop``, ``parameters.seed``) and
    ``top_p`` below 1 (TGI refuses 1.0); no tools, JSON output or images."""

    __slots__ = ("_base",)
    answer_field = "generated_text"
    capabilities = frozenset({"stop", "seed"})

    def __init__(self, *, base_url: str, api_key: str | None, default_model: str) -> None:
        check_model_path(default_model, "HUGGINGFACE_MODEL")
        super().__init__(ProviderName.HUGGINGFACE, default_model, api_key)
        self._base = base_url.rstrip("/")

    def _request(self, request: LLMRequest) -> tuple[str, dict[str, Any]]:
        parameters: dict[str, Any] = {
            "max_new_tokens": request.max_tokens,
            "return_full_text": False,
        }
        if request.temperature > 0:
            parameters["temperature"] = request.temperature
        else:
            parameters["do_sample"] = False
        if request.stop:
            parameters["stop"] = list(request.stop)
        if request.seed is not None:
            parameters["seed"] = request.seed
        if request.top_p is not None and request.top_p < 1:
            parameters["top_p"] = request.top_p
        url = f"{self._base}/models/{model_path(request.model or self.default_model)}"
        return url, {"inputs": prompt_text(request), "parameters": parameters}

    def _answer(self, data: Any) -> Completion | None:
        if isinstance(data, list) and data:
            data = data[0]
        text = as_dict(data).get("generated_text")
        return Completion(content=text) if isinstance(text, str) else None

    def _retry_hint(self, data: Any) -> float | None:
        wait = as_dict(data).get("estimated_time")
        if isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait >= 0:
            return float(wait)
        return None


def prompt_text(request: LLMRequest) -> str:
    """The request as one prompt for prompt-only protocols, the system text first."""
    text = request.as_text()
    return f"{request.system}\n\n{text}" if request.system else text


class BufferedDecoder:
    """The stream decoder of a protocol that cannot stream: the call went out as a normal
    request, so this keeps the whole body and, at :meth:`close`, parses it with the
    adapter's ``parse`` and emits the answer as one delta plus the done event. A body that
    is not an answer raises at :meth:`close` as ``parse`` would."""

    __slots__ = ("_parse", "_body")

    def __init__(self, parse: Callable[[HttpReply], Completion]) -> None:
        self._parse = parse
        self._body = bytearray()

    def feed(self, data: bytes) -> list[StreamEvent]:
        self._body += data
        return []

    def close(self) -> list[StreamEvent]:
        answer = self._parse(HttpReply(200, {}, bytes(self._body)))
        events = []
        if answer.content or answer.reasoning:
            events.append(StreamEvent(text=answer.content, reasoning=answer.reasoning or ""))
        events.append(
            StreamEvent(
                done=True,
                usage=answer.usage,
                finish_reason=answer.finish_reason,
                model=answer.model,
            )
        )
        return events
