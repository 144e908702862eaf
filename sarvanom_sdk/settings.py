"""Settings: one frozen dataclass, built from the environment (and a ``.env`` file).

Every environment variable has a field; keyword arguments to the clients override fields.
A malformed value is a :class:`ConfigurationError` naming the variable, never a silent
default. API keys never appear in ``repr(settings)``.

=================================== ============================ ========================
Variable                            Field                        Default
=================================== ============================ ========================
OLLAMA_BASE_URL                     ollama_base_url              unset (provider off)
OLLAMA_MODEL                        ollama_model                 deepseek-r1:8b
GPU_REMOTE_URL                      gpu_remote_url               unset (provider off)
GPU_REMOTE_TOKEN                    gpu_remote_token             unset
GPU_REMOTE_PROTOCOL                 gpu_remote_protocol          seed (or: openai)
GPU_REMOTE_MODEL                    gpu_remote_model             default
HUGGINGFACE_API_KEY                 huggingface_api_key          unset (provider off)
HUGGINGFACE_MODEL                   huggingface_model            meta-llama/Llama-3.1-8B-Instruct
HUGGINGFACE_BASE_URL                huggingface_base_url         https://router.huggingface.co/v1
HUGGINGFACE_API                     huggingface_api              router (or: task)
ENABLE_PAID_API                     enable_paid_api              false
OPENAI_API_KEY / OPENAI_MODEL       openai_api_key / openai_model       unset / gpt-4o-mini
OPENAI_BASE_URL                     openai_base_url              https://api.openai.com/v1
ANTHROPIC_API_KEY / ANTHROPIC_MODEL anthropic_api_key / anthropic_model unset / claude-3-5-haiku
ANTHROPIC_BASE_URL                  anthropic_base_url           https://api.anthropic.com
SARVANOM_ALLOW_HTTP_KEYED_URLS      allow_http_keyed_urls        false (keyed URLs need https)
LLM_TIMEOUT_SECONDS                 attempt_timeout              15 (one attempt)
SARVANOM_TOTAL_TIMEOUT_SECONDS      total_timeout                30 (a whole call)
SARVANOM_CONNECT_TIMEOUT_SECONDS    connect_timeout              5
SARVANOM_FIRST_TOKEN_TIMEOUT_SECONDS first_token_timeout         10 (streams)
SARVANOM_CIRCUIT_FAIL_MAX           circuit_fail_max             3
SARVANOM_CIRCUIT_RESET_SECONDS      circuit_reset_seconds        300
SARVANOM_MAX_RETRIES                max_retries                  1 (per provider)
SARVANOM_CACHE_TTL_SECONDS          cache_ttl_seconds            300 (0 disables the cache)
SARVANOM_CACHE_MAXSIZE              cache_maxsize                1024
SARVANOM_CACHE_STALE_SECONDS        cache_stale_seconds          3600 (stale answers kept)
SARVANOM_BUDGET_USD                 budget_usd                   unset (no budget)
SARVANOM_PROVIDERS                  providers                    unset (the seed's order)
SARVANOM_FALLBACK_TO_STUB           fallback_to_stub             true
SARVANOM_MAX_RESPONSE_BYTES         max_response_bytes           8388608
OLLAMA_EMBEDDING_MODEL              ollama_embedding_model       nomic-embed-text
GPU_REMOTE_EMBEDDING_MODEL          gpu_remote_embedding_model   default
HUGGINGFACE_EMBEDDING_MODEL         huggingface_embedding_model  sentence-transformers/
                                                                 all-MiniLM-L6-v2
OPENAI_EMBEDDING_MODEL              openai_embedding_model       text-embedding-3-small
SARVANOM_REDIS_URL                  redis_url                    unset (state is local)
SARVANOM_REDIS_NAMESPACE            redis_namespace              sarvanom (Redis key prefix)
SARVANOM_ROUTING_POLICY             routing_policy               priority (or: latency)
SARVANOM_MAX_CONCURRENCY            max_concurrency              per provider, e.g. ollama_local=1
SARVANOM_QUEUE_TIMEOUT_SECONDS      queue_timeout                0.25 (then spill over: "busy")
SARVANOM_HEDGE                      hedge                        false
SARVANOM_HEDGE_DELAY_SECONDS        hedge_delay                  unset (the provider's recent p95)
SARVANOM_HEDGE_PAID                 hedge_paid                   false (never hedge onto paid)
SARVANOM_MODEL_ALIASES              model_aliases                unset (gateway: name=sarvanom/...)
=================================== ============================ ========================
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .envfile import DEFAULT_ENV_FILE, EnvSources, check_redirects, read_env_file
from .errors import ConfigurationError, InvalidRequestError
from .model_names import parse_aliases
from .types import ProviderName
from .urls import check_base_url, check_url_shape, display_url, is_loopback_host

__all__ = [
    "DEFAULT_ENV_FILE",
    "Settings",
    "display_url",
    "is_loopback_host",
    "read_env_file",
    "redact_key",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _env(name: str) -> dict[str, Any]:
    return {"env": name}


@dataclass(frozen=True, slots=True)
class Settings:
    """The client's configuration. Build it with :meth:`from_env` or directly."""

    ollama_base_url: str | None = field(default=None, metadata=_env("OLLAMA_BASE_URL"))
    ollama_model: str = field(default="deepseek-r1:8b", metadata=_env("OLLAMA_MODEL"))
    gpu_remote_url: str | None = field(default=None, metadata=_env("GPU_REMOTE_URL"))
    gpu_remote_token: str | None = field(default=None, metadata=_env("GPU_REMOTE_TOKEN"))
    gpu_remote_protocol: str = field(default="seed", metadata=_env("GPU_REMOTE_PROTOCOL"))
    gpu_remote_model: str = field(default="default", metadata=_env("GPU_REMOTE_MODEL"))
    huggingface_api_key: str | None = field(default=None, metadata=_env("HUGGINGFACE_API_KEY"))
    huggingface_model: str = field(
        default="meta-llama/Llama-3.1-8B-Instruct", metadata=_env("HUGGINGFACE_MODEL")
    )
    huggingface_base_url: str = field(
        default="https://router.huggingface.co/v1", metadata=_env("HUGGINGFACE_BASE_URL")
    )
    huggingface_api: str = field(default="router", metadata=_env("HUGGINGFACE_API"))
    enable_paid_api: bool = field(default=False, metadata=_env("ENABLE_PAID_API"))
    openai_api_key: str | None = field(default=None, metadata=_env("OPENAI_API_KEY"))
    openai_model: str = field(default="gpt-4o-mini", metadata=_env("OPENAI_MODEL"))
    openai_base_url: str = field(
        default="https://api.openai.com/v1", metadata=_env("OPENAI_BASE_URL")
    )
    anthropic_api_key: str | None = field(default=None, metadata=_env("ANTHROPIC_API_KEY"))
    anthropic_model: str = field(
        default="claude-3-5-haiku-20241022", metadata=_env("ANTHROPIC_MODEL")
    )
    anthropic_base_url: str = field(
        default="https://api.anthropic.com", metadata=_env("ANTHROPIC_BASE_URL")
    )
    allow_http_keyed_urls: bool = field(
        default=False, metadata=_env("SARVANOM_ALLOW_HTTP_KEYED_URLS")
    )
    attempt_timeout: float = field(default=15.0, metadata=_env("LLM_TIMEOUT_SECONDS"))
    total_timeout: float = field(default=30.0, metadata=_env("SARVANOM_TOTAL_TIMEOUT_SECONDS"))
    connect_timeout: float = field(default=5.0, metadata=_env("SARVANOM_CONNECT_TIMEOUT_SECONDS"))
    first_token_timeout: float = field(
        default=10.0, metadata=_env("SARVANOM_FIRST_TOKEN_TIMEOUT_SECONDS")
    )
    circuit_fail_max: int = field(default=3, metadata=_env("SARVANOM_CIRCUIT_FAIL_MAX"))
    circuit_reset_seconds: float = field(
        default=300.0, metadata=_env("SARVANOM_CIRCUIT_RESET_SECONDS")
    )
    max_retries: int = field(default=1, metadata=_env("SARVANOM_MAX_RETRIES"))
    cache_ttl_seconds: float = field(default=300.0, metadata=_env("SARVANOM_CACHE_TTL_SECONDS"))
    cache_maxsize: int = field(default=1024, metadata=_env("SARVANOM_CACHE_MAXSIZE"))
    cache_stale_seconds: float = field(
        default=3600.0, metadata=_env("SARVANOM_CACHE_STALE_SECONDS")
    )
    budget_usd: float | None = field(default=None, metadata=_env("SARVANOM_BUDGET_USD"))
    providers: tuple[ProviderName, ...] | None = field(
        default=None, metadata=_env("SARVANOM_PROVIDERS")
    )
    fallback_to_stub: bool = field(default=True, metadata=_env("SARVANOM_FALLBACK_TO_STUB"))
    max_response_bytes: int = field(
        default=8 * 1024 * 1024, metadata=_env("SARVANOM_MAX_RESPONSE_BYTES")
    )
    redis_url: str | None = field(default=None, metadata=_env("SARVANOM_REDIS_URL"))
    redis_namespace: str = field(default="sarvanom", metadata=_env("SARVANOM_REDIS_NAMESPACE"))
    routing_policy: str = field(default="priority", metadata=_env("SARVANOM_ROUTING_POLICY"))
    max_concurrency: str | None = field(default=None, metadata=_env("SARVANOM_MAX_CONCURRENCY"))
    queue_timeout: float = field(default=0.25, metadata=_env("SARVANOM_QUEUE_TIMEOUT_SECONDS"))
    hedge: bool = field(default=False, metadata=_env("SARVANOM_HEDGE"))
    hedge_delay: float | None = field(default=None, metadata=_env("SARVANOM_HEDGE_DELAY_SECONDS"))
    hedge_paid: bool = field(default=False, metadata=_env("SARVANOM_HEDGE_PAID"))
    stream_idle_timeout: float = field(
        default=10.0, metadata=_env("SARVANOM_STREAM_IDLE_TIMEOUT_SECONDS")
    )
    stream_recovery: str = field(default="raise", metadata=_env("SARVANOM_STREAM_RECOVERY"))
    on_content_filter: str = field(default="raise", metadata=_env("SARVANOM_ON_CONTENT_FILTER"))
    breaker_probe_interval: float = field(
        default=10.0, metadata=_env("SARVANOM_BREAKER_PROBE_SECONDS")
    )
    model_aliases: str | None = field(default=None, metadata=_env("SARVANOM_MODEL_ALIASES"))
    # -- embeddings (issue 15 item 1): each provider's embedding model -----------------
    ollama_embedding_model: str = field(
        default="nomic-embed-text", metadata=_env("OLLAMA_EMBEDDING_MODEL")
    )
    gpu_remote_embedding_model: str = field(
        default="default", metadata=_env("GPU_REMOTE_EMBEDDING_MODEL")
    )
    huggingface_embedding_model: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata=_env("HUGGINGFACE_EMBEDDING_MODEL"),
    )
    openai_embedding_model: str = field(
        default="text-embedding-3-small", metadata=_env("OPENAI_EMBEDDING_MODEL")
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f, getattr(self, f.name)))
        _check(self)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
        **overrides: Any,
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``) over an env file.

        Variables already in the environment win over the file; ``overrides`` (field
        names) win over both. Unknown override names raise :class:`ConfigurationError`.

        ``env_file`` left at its default reads ``./.env`` if there is one (or the file
        ``SARVANOM_ENV_FILE`` names): found, not chosen, so it may not redirect a key from
        the environment or the keywords (a base URL, ``SARVANOM_PROVIDERS``,
        ``ENABLE_PAID_API=true``; see :mod:`sarvanom_sdk.envfile`). A file passed
        explicitly is trusted. ``env_file=None`` reads no file.
        """
        known = _known(overrides)
        sources = EnvSources(environ, env_file)
        check_redirects(sources, frozenset(_FIELD_ENV[name] for name in known))
        values = sources.values
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f.metadata["env"])
            if raw is not None and (raw.strip() or f.type in ("bool",)):
                kwargs[f.name] = _parse(f, raw)
        kwargs.update(known)
        return cls(**kwargs)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` (field names) applied and validated."""
        return dataclasses.replace(self, **_known(overrides))

    # -- derived values -----------------------------------------------------------------
    def endpoint_urls(self, provider: ProviderName) -> tuple[str, ...]:
        """The provider's base URLs: OLLAMA_BASE_URL and GPU_REMOTE_URL may list several,
        comma-separated; other providers have one."""
        raw = {
            ProviderName.OLLAMA_LOCAL: self.ollama_base_url,
            ProviderName.REMOTE_GPU: self.gpu_remote_url,
            ProviderName.HUGGINGFACE: self.huggingface_base_url,
            ProviderName.OPENAI: self.openai_base_url,
            ProviderName.ANTHROPIC: self.anthropic_base_url,
        }.get(provider)
        return tuple(u.strip() for u in raw.split(",") if u.strip()) if raw else ()

    def concurrency_limit(self, provider: ProviderName) -> int:
        """Calls in flight allowed to each endpoint of ``provider``."""
        return _concurrency_map(self.max_concurrency).get(
            provider, DEFAULT_CONCURRENCY.get(provider, 32)
        )

    # -- presentation -------------------------------------------------------------------
    def secrets(self) -> tuple[str, ...]:
        """Every secret value set (for redaction)."""
        return tuple(
            v
            for v in (
                self.huggingface_api_key,
                self.openai_api_key,
                self.anthropic_api_key,
                self.gpu_remote_token,
            )
            if v
        )

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS:
                value = redact_key(value)
            elif f.name in _URL_FIELDS or f.name == "redis_url":
                value = display_url(value)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__


#: Calls in flight per endpoint by default: a CPU Ollama answers one or two at a time.
DEFAULT_CONCURRENCY = {
    ProviderName.OLLAMA_LOCAL: 2,
    ProviderName.REMOTE_GPU: 4,
    ProviderName.HUGGINGFACE: 8,
    ProviderName.OPENAI: 64,
    ProviderName.ANTHROPIC: 64,
}


def _concurrency_map(raw: str | None) -> dict[ProviderName, int]:
    """``"ollama_local=1,remote_gpu=4"`` as a mapping (ConfigurationError when malformed)."""
    name = "SARVANOM_MAX_CONCURRENCY"
    out: dict[ProviderName, int] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        provider, sep, number = item.partition("=")
        if not sep or not number.strip().isdigit() or int(number) < 1:
            raise ConfigurationError(name, f"expected provider=N with N >= 1, got {item.strip()!r}")
        try:
            out[ProviderName.parse(provider)] = int(number)
        except InvalidRequestError as exc:
            raise ConfigurationError(name, str(exc).split(": ", 1)[1]) from None
    return out


_SECRET_FIELDS = frozenset(
    {"huggingface_api_key", "openai_api_key", "anthropic_api_key", "gpu_remote_token"}
)


def redact_key(value: str | None) -> str | None:
    """A key shown safely: at most a 3-character prefix, never the key itself."""
    if not value:
        return value
    return f"{value[:3]}…" if len(value) >= 12 else "***"


def _known(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` when every name is a field; a misspelt name is a ConfigurationError
    with the closest field name or variable as a suggestion."""
    for name in overrides:
        if name not in _FIELD_ENV:
            raise ConfigurationError(name, f"not a Settings field{_did_you_mean(name)}")
    return dict(overrides)


def _did_you_mean(name: str) -> str:
    by_env = {env.lower(): field_name for field_name, env in _FIELD_ENV.items()}
    if name.lower() in by_env:  # an environment variable's name given as a keyword
        return f"; did you mean {by_env[name.lower()]}?"
    close = difflib.get_close_matches(name, list(_FIELD_ENV), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


# -- parsing and validation ---------------------------------------------------------------
_URL_FIELDS = frozenset(
    {
        "ollama_base_url",
        "gpu_remote_url",
        "huggingface_base_url",
        "openai_base_url",
        "anthropic_base_url",
    }
)
_POSITIVE_FLOATS = frozenset(
    {"attempt_timeout", "total_timeout", "connect_timeout", "first_token_timeout",
     "circuit_reset_seconds", "queue_timeout", "stream_idle_timeout"}
)
_CHOICES = {
    "gpu_remote_protocol": ("seed", "openai"),
    "huggingface_api": ("router", "task"),
    "routing_policy": ("priority", "latency"),
    "stream_recovery": ("raise", "restart", "continue"),
    "on_content_filter": ("raise", "fallback"),
}
_MULTI_URL_FIELDS = frozenset({"ollama_base_url", "gpu_remote_url"})


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    """Parse an environment string for field ``f`` (errors name the variable)."""
    name = f.metadata["env"]
    kind = str(f.type)
    raw = raw.strip()
    if kind == "bool":
        return _parse_bool(name, raw)
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        want = "an integer" if kind.startswith("int") else "a number"
        raise ConfigurationError(name, f"must be {want}, got {raw!r}") from None
    if f.name == "providers":
        return _parse_providers(name, raw.split(","))
    return raw


def _parse_bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigurationError(name, f"must be true or false, got {raw!r}")


def _parse_providers(name: str, items: Any) -> tuple[ProviderName, ...]:
    out: list[ProviderName] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        try:
            provider = ProviderName.parse(item, name)
        except InvalidRequestError as exc:
            raise ConfigurationError(name, str(exc).split(": ", 1)[1]) from None
        if provider in out:
            raise ConfigurationError(name, f"{provider.value} is listed twice")
        out.append(provider)
    if not out:
        raise ConfigurationError(name, "names no provider")
    return tuple(out)


def _coerce(f: dataclasses.Field[Any], value: Any) -> Any:
    """Validate a field value given directly (not from the environment)."""
    name = f.metadata["env"]
    kind = str(f.type)
    if value is None:
        if "None" in kind:
            return None
        raise ConfigurationError(name, "must be set")
    if kind == "bool":
        if isinstance(value, str):
            return _parse_bool(name, value)
        if not isinstance(value, bool):
            raise ConfigurationError(name, f"must be true or false, got {value!r}")
        return value
    if kind.startswith(("int", "float")):
        if isinstance(value, str):
            return _parse(f, value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(name, f"must be a number, got {value!r}")
        if kind.startswith("int") and not isinstance(value, int):
            raise ConfigurationError(name, f"must be an integer, got {value!r}")
        if not math.isfinite(value):
            raise ConfigurationError(name, f"must be finite, got {value!r}")
        return float(value) if kind.startswith("float") else value
    if f.name == "providers":
        if isinstance(value, str):
            value = value.split(",")
        return _parse_providers(name, value)
    if not isinstance(value, str):
        raise ConfigurationError(name, f"must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        if "None" in kind:
            return None
        raise ConfigurationError(name, "must not be empty")
    return value


def _check(s: Settings) -> None:
    for f in fields(s):
        name = f.metadata["env"]
        value = getattr(s, f.name)
        if f.name in _URL_FIELDS and value is not None:
            urls = value.split(",") if f.name in _MULTI_URL_FIELDS else [value]
            for url in urls:
                check_url_shape(name, url.strip())
        if f.name in _SECRET_FIELDS and value is not None:
            _check_header_safe(name, value)
        if f.name in _POSITIVE_FLOATS and not value > 0:
            raise ConfigurationError(name, f"must be greater than 0, got {value}")
        if f.name in _CHOICES and value not in _CHOICES[f.name]:
            allowed = " or ".join(_CHOICES[f.name])
            raise ConfigurationError(name, f"must be {allowed}, got {value!r}")
    _at_least(s, "circuit_fail_max", 1)
    _at_least(s, "max_retries", 0)
    _at_least(s, "cache_ttl_seconds", 0)
    _at_least(s, "cache_stale_seconds", 0)
    _at_least(s, "cache_maxsize", 1)
    _at_least(s, "max_response_bytes", 1024)
    _at_least(s, "breaker_probe_interval", 0)
    if s.budget_usd is not None:
        _at_least(s, "budget_usd", 0)
    if s.hedge_delay is not None:
        _at_least(s, "hedge_delay", 0)
    _concurrency_map(s.max_concurrency)
    parse_aliases(s.model_aliases)  # gateway model aliases (issue 15 item 3)
    if s.max_retries > 10:
        raise ConfigurationError("SARVANOM_MAX_RETRIES", f"must be at most 10, got {s.max_retries}")
    if s.redis_url is not None:  # the forms shared_state accepts; the value is never echoed
        from .shared_state.redis_url import parse

        parse(s.redis_url)
    check_keyed_urls(s)
    _note_attempt_above_total(s)


def check_keyed_urls(s: Settings) -> None:
    """The one rule for base URLs that carry a key (used by the clients, ``sarvanom
    providers`` and the gateway alike, since every one of them builds Settings): https
    unless loopback or ``allow_http_keyed_urls``; no URL credentials next to a key. The
    remote GPU box needs https even without a token (prompts cross a public tunnel)."""
    paid = s.enable_paid_api
    keyed = {
        "gpu_remote_url": ("GPU_REMOTE_TOKEN" if s.gpu_remote_token else None),
        "huggingface_base_url": "HUGGINGFACE_API_KEY" if s.huggingface_api_key else None,
        "openai_base_url": "OPENAI_API_KEY" if s.openai_api_key and paid else None,
        "anthropic_base_url": "ANTHROPIC_API_KEY" if s.anthropic_api_key and paid else None,
    }
    for field_name, key_variable in keyed.items():
        value = getattr(s, field_name)
        if value is None:
            continue
        urls = value.split(",") if field_name in _MULTI_URL_FIELDS else [value]
        for url in urls:
            check_base_url(
                _FIELD_ENV[field_name],
                url.strip(),
                key_variable=key_variable,
                clear_text_risk=field_name == "gpu_remote_url",
                allow_http=s.allow_http_keyed_urls,
            )


def _check_header_safe(variable: str, value: str) -> None:
    """A key or token must be sendable in an HTTP header: printable ASCII, no whitespace
    inside. The error names the variable and what is wrong, never the value."""
    for position, char in enumerate(value, 1):
        if " " < char < "\x7f":
            continue
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            what = "a control character"
        elif char.isspace():
            what = "a whitespace character"
        else:
            what = "a non-ASCII character (a pasted look-alike?)"
        raise ConfigurationError(
            variable,
            f"holds {what} at position {position}, which an HTTP header cannot carry; "
            "copy the key again",
        )


_NOTED: set[tuple[float, float]] = set()
_log = logging.getLogger("sarvanom_sdk")


def _note_attempt_above_total(s: Settings) -> None:
    """``LLM_TIMEOUT_SECONDS`` above the total timeout is accepted (the total cuts every
    attempt anyway) with one warning per process and pair of values."""
    pair = (s.attempt_timeout, s.total_timeout)
    if s.attempt_timeout > s.total_timeout and pair not in _NOTED:
        _NOTED.add(pair)
        _log.warning(
            "LLM_TIMEOUT_SECONDS (%g s) is above SARVANOM_TOTAL_TIMEOUT_SECONDS (%g s): "
            "every attempt is cut at the total timeout",
            *pair,
        )


def _at_least(s: Settings, field_name: str, low: float) -> None:
    value = getattr(s, field_name)
    if value < low:
        env = Settings.__dataclass_fields__[field_name].metadata["env"]
        raise ConfigurationError(env, f"must be at least {low}, got {value}")


_FIELD_ENV: dict[str, str] = {f.name: f.metadata["env"] for f in fields(Settings)}
