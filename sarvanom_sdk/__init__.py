"""sarvanom_sdk: an answer from a large language model for free whenever it can be had,
and never no answer.

``SarvanClient().complete("...")`` routes a request free-first — a local Ollama, a free
remote GPU box, Hugging Face's free tier, then OpenAI and Anthropic only when paid use is
enabled — and finally a local stub that always answers and says why. Importing this
package is light: the HTTP libraries are imported on first use.
"""

from ._version import __version__
from .client import AsyncSarvanClient, AsyncStream, SarvanClient, SyncStream
from .embedding import EmbeddingResponse
from .errors import (
    AllProvidersFailed,
    ConfigurationError,
    ContentFiltered,
    InvalidRequestError,
    ProviderError,
    SarvanError,
    StreamInterrupted,
)
from .settings import Settings
from .stack import HookLayer, Layer
from .types import (
    Attempt,
    AttemptOutcome,
    EndpointHealth,
    HealthStatus,
    LLMRequest,
    LLMResponse,
    Message,
    ProviderHealth,
    ProviderName,
    StreamChunk,
    Usage,
)

__all__ = [
    "AllProvidersFailed",
    "AsyncSarvanClient",
    "AsyncStream",
    "Attempt",
    "AttemptOutcome",
    "ConfigurationError",
    "ContentFiltered",
    "EmbeddingResponse",
    "EndpointHealth",
    "HealthStatus",
    "HookLayer",
    "InvalidRequestError",
    "LLMRequest",
    "LLMResponse",
    "Layer",
    "Message",
    "ProviderError",
    "ProviderHealth",
    "ProviderName",
    "SarvanClient",
    "SarvanError",
    "Settings",
    "StreamChunk",
    "StreamInterrupted",
    "SyncStream",
    "Usage",
    "__version__",
]
