"""remote_gpu: a free GPU box (Colab, Kaggle, an HF Space) behind a public tunnel.

``GPU_REMOTE_PROTOCOL=seed`` (default) speaks the seed's tiny server::

    POST {url}/generate {"prompt": system + prompt, "max_tokens", "temperature"}
    -> {"content": "..."}            (anything else, an HTML interstitial too, is an error)
    GET  {url}/health                (the health probe)

It cannot stream: a streamed request is sent as a normal one and the whole answer is
emitted at the end (:class:`~.huggingface.BufferedDecoder`).

``GPU_REMOTE_PROTOCOL=openai``: a vLLM / TGI / llama.cpp box speaking the OpenAI protocol
at ``{url}/v1/chat/completions`` with model ``GPU_REMOTE_MODEL`` (a URL that already ends
in ``/v1`` is taken as the same box); health is still ``GET {url}/health``.

Both send ``ngrok-skip-browser-warning: true`` (so an ngrok free tunnel answers instead of
showing its interstitial) and ``Authorization: Bearer $GPU_REMOTE_TOKEN`` only when a
token is set. The URL must be ``https://`` unless its host is loopback (or
``SARVANOM_ALLOW_HTTP_KEYED_URLS=true`` for a trusted LAN): a token, and every prompt, would
otherwise cross the internet in clear text. The rule is Settings' (:func:`~sarvanom_sdk.urls.
check_base_url`), applied here again for an adapter built directly.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ..errors import ConfigurationError
from ..settings import Settings
from ..types import LLMRequest, ProviderName
from ..urls import check_base_url
from ._wire import as_dict, as_str
from .base import Completion, ProviderAdapter
from .huggingface import PromptProtocol, ProtocolSwitch, prompt_text
from .openai import OpenAIAdapter

__all__ = ["RemoteGPUAdapter", "SeedGPUProtocol"]

#: Sent on every call: an ngrok free tunnel answers HTML unless the request carries it.
TUNNEL_HEADERS = MappingProxyType({"ngrok-skip-browser-warning": "true"})


class RemoteGPUAdapter(ProtocolSwitch):
    """The remote GPU box at ``url`` speaking ``protocol`` (``"seed"`` or ``"openai"``).

    Raises :class:`ConfigurationError` for a URL that is not ``https://`` unless its host is
    loopback (or ``allow_http``), for URL credentials next to a token, and for an unknown
    protocol. Free (not paid).
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        url: str,
        token: str | None = None,
        protocol: str = "seed",
        model: str = "default",
        allow_http: bool = False,
    ) -> None:
        check_tunnel_url(url, token=token, allow_http=allow_http)
        root = url.rstrip("/")
        wire: ProviderAdapter
        if protocol == "seed":
            wire = SeedGPUProtocol(url=root, token=token, default_model=model)
        elif protocol == "openai":
            root = root.removesuffix("/v1")
            wire = OpenAIAdapter(
                name=ProviderName.REMOTE_GPU,
                base_url=f"{root}/v1",
                api_key=token,
                default_model=model,
                paid=False,
                extra_headers=TUNNEL_HEADERS,
                health_url=f"{root}/health",
            )
        else:
            raise ConfigurationError(
                "GPU_REMOTE_PROTOCOL", f"must be seed or openai, got {protocol!r}"
            )
        super().__init__(protocol, wire)

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteGPUAdapter:
        """``GPU_REMOTE_URL`` (required), ``GPU_REMOTE_TOKEN``, ``GPU_REMOTE_PROTOCOL``,
        ``GPU_REMOTE_MODEL``."""
        if not settings.gpu_remote_url:
            raise ConfigurationError("GPU_REMOTE_URL", "not set (the provider is off)")
        return cls(
            url=settings.gpu_remote_url,
            token=settings.gpu_remote_token,
            protocol=settings.gpu_remote_protocol,
            model=settings.gpu_remote_model,
            allow_http=settings.allow_http_keyed_urls,
        )


def check_tunnel_url(url: str, *, token: str | None = None, allow_http: bool = False) -> None:
    """Refuse a URL that would send the token and prompts in clear text over a network, or
    that holds credentials next to a token."""
    check_base_url(
        "GPU_REMOTE_URL",
        url,
        key_variable="GPU_REMOTE_TOKEN" if token else None,
        clear_text_risk=True,
        allow_http=allow_http,
    )


class SeedGPUProtocol(PromptProtocol):
    """The seed's server: ``POST {url}/generate`` -> ``{"content"}``; ``GET {url}/health``."""

    __slots__ = ("_generate_url",)
    answer_field = "content"

    def __init__(self, *, url: str, token: str | None, default_model: str) -> None:
        super().__init__(
            ProviderName.REMOTE_GPU, default_model, token, TUNNEL_HEADERS, f"{url}/health"
        )
        self._generate_url = f"{url}/generate"

    def _request(self, request: LLMRequest) -> tuple[str, dict[str, Any]]:
        body = {
            "prompt": prompt_text(request),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        return self._generate_url, body

    def _answer(self, data: Any) -> Completion | None:
        body = as_dict(data)
        content = body.get("content")
        if not isinstance(content, str):
            return None
        return Completion(content=content, model=as_str(body.get("model")))
