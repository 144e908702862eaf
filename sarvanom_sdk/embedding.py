"""Embedding values (issue 15 item 1): the request, validated on construction, and the
response.

An :class:`EmbeddingRequest` is refused with :class:`InvalidRequestError` naming the field
before any network call: ``texts`` is a string or a non-empty list of non-empty strings
(at most :data:`MAX_EMBED_TEXTS` of them, each at most :data:`MAX_EMBED_TEXT_CHARS`
characters, :data:`MAX_EMBED_TOTAL_CHARS` together); ``dimensions`` a positive int up to
:data:`MAX_EMBED_DIMENSIONS`; ``model`` needs a ``provider`` pin, as for ``complete()``
(model names differ between providers, and so do vector spaces).

An :class:`EmbeddingResponse`'s vectors all come from one provider and one model (a
fallback never mixes vector spaces), in the order of the texts.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequestError
from .types import Attempt, LLMRequest, ProviderName, Usage, new_trace_id

#: The most texts one call may embed (OpenAI's own limit per request).
MAX_EMBED_TEXTS = 2048
#: The longest text (characters; about 8k tokens, the usual model limit).
MAX_EMBED_TEXT_CHARS = 32_768
#: All the texts of one call together (characters).
MAX_EMBED_TOTAL_CHARS = 500_000
#: The most dimensions asked for, or believed from a provider.
MAX_EMBED_DIMENSIONS = 16_384


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """One embedding call. ``texts`` is kept as a tuple; ``single`` records that one string
    was given (the response still holds a list of one vector)."""

    texts: tuple[str, ...]
    model: str | None = None
    dimensions: int | None = None
    provider: ProviderName | None = None
    cache: bool = True
    timeout: float | None = None
    trace_id: str = field(default_factory=new_trace_id)
    single: bool = False
    _routing: LLMRequest | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        texts: Any = self.texts
        if isinstance(texts, str):
            set_(self, "single", True)
            texts = (texts,)
        if isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
            raise InvalidRequestError("texts", "must be a string or a list of strings")
        texts = tuple(texts)
        if not texts:
            raise InvalidRequestError("texts", "must hold at least one text")
        if len(texts) > MAX_EMBED_TEXTS:
            raise InvalidRequestError(
                "texts", f"at most {MAX_EMBED_TEXTS} texts per call, got {len(texts)}"
            )
        total = 0
        for index, text in enumerate(texts):
            where = f"texts[{index}]"
            if not isinstance(text, str) or not text.strip():
                raise InvalidRequestError(where, "must be a non-empty string")
            if len(text) > MAX_EMBED_TEXT_CHARS:
                raise InvalidRequestError(
                    where, f"longer than {MAX_EMBED_TEXT_CHARS} characters ({len(text)})"
                )
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidRequestError(where, "holds a lone UTF-16 surrogate") from None
            total += len(text)
        if total > MAX_EMBED_TOTAL_CHARS:
            raise InvalidRequestError(
                "texts", f"longer than {MAX_EMBED_TOTAL_CHARS} characters together ({total})"
            )
        set_(self, "texts", texts)
        dims = self.dimensions
        if dims is not None and (
            isinstance(dims, bool)
            or not isinstance(dims, int)
            or not 1 <= dims <= MAX_EMBED_DIMENSIONS
        ):
            raise InvalidRequestError(
                "dimensions", f"must be an integer 1..{MAX_EMBED_DIMENSIONS}, got {dims!r}"
            )
        # model, provider, cache, timeout and trace_id: the same rules as LLMRequest's
        shadow = LLMRequest(
            prompt="\n".join(self.texts),
            max_tokens=1,
            temperature=0.0,
            model=self.model,
            provider=self.provider,
            cache=self.cache,
            timeout=self.timeout,
            trace_id=self.trace_id,
        )
        set_(self, "provider", shadow.provider)
        set_(self, "_routing", shadow)

    def routing_request(self) -> LLMRequest:
        """The :class:`LLMRequest` the router's per-provider steps see (the cost gate
        estimates from its prompt, the texts joined; nothing is generated)."""
        assert self._routing is not None
        return self._routing


@dataclass(frozen=True, slots=True)
class Embedded:
    """What an embedding adapter read from a reply: one vector per text sent, in order."""

    vectors: list[list[float]]
    model: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingResponse:
    """Vectors in the order of the texts, all from ``provider`` and ``model``.

    ``cost_usd`` is what the call cost (0 for free providers and for a cache hit);
    ``attempts`` is the trail; ``cached`` counts the vectors served from the cache."""

    vectors: list[list[float]]
    provider: ProviderName
    model: str
    usage: Usage | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    trace_id: str = ""
    attempts: tuple[Attempt, ...] = ()
    cached: int = 0

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0

    @property
    def trail(self) -> tuple[Attempt, ...]:
        return self.attempts

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider.value,
            "model": self.model,
            "dimensions": self.dimensions,
            "usage": self.usage.to_dict() if self.usage else None,
            "cost_usd": self.cost_usd,
            "latency_ms": round(self.latency_ms, 3),
            "trace_id": self.trace_id,
            "cached": self.cached,
            "attempts": [a.to_dict() for a in self.attempts],
        }


def finite_vector(value: Any) -> list[float] | None:
    """``value`` as a list of floats when it is a non-empty list of finite JSON numbers,
    else None. Converted and checked at C speed (``array``, then one sum: a NaN or an
    infinity anywhere makes it non-finite; so does a sum past the float range, which no
    real embedding reaches)."""
    if not isinstance(value, list) or not value:
        return None
    try:
        numbers = array("d", value)
    except (TypeError, OverflowError):
        return None
    if not math.isfinite(sum(numbers)):
        return None
    return numbers.tolist()
