"""The ``.env`` file: reading it, and how far a value read from it is trusted.

Values are tagged by source. A ``.env`` found implicitly in the current directory (the
default, :data:`DEFAULT_ENV_FILE`) may sit in any cloned repository, so it is *untrusted
for redirection*: it may not choose where a key from a more trusted source goes. When it
sets a base URL, ``SARVANOM_PROVIDERS`` or turns ``ENABLE_PAID_API`` on while the matching
key or token comes from the real process environment (or from the caller's keyword
arguments), :func:`check_redirects` raises :class:`ConfigurationError` naming both
variables (never their values) and the three ways out. A file the user chose — passed as
``env_file=``, ``--env-file`` on the CLI, or named by ``SARVANOM_ENV_FILE`` in the real
environment — is trusted like the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigurationError

__all__ = ["DEFAULT_ENV_FILE", "EnvSources", "check_redirects", "read_env_file"]


class _ImplicitEnvFile(str):
    """The default ``env_file``: ``.env`` in the current directory, found, not chosen."""

    __slots__ = ()


#: The default ``env_file`` argument (compare with ``is``): the implicit ``.env``.
DEFAULT_ENV_FILE: str = _ImplicitEnvFile(".env")

#: The real-environment variable naming a trusted env file (used instead of ``./.env``).
ENV_FILE_VARIABLE = "SARVANOM_ENV_FILE"

#: Setting variable -> the key variables whose destination or use it decides. Ollama gets
#: no key, so OLLAMA_BASE_URL redirects nothing and is not listed.
_REDIRECTING: dict[str, tuple[str, ...]] = {
    "OPENAI_BASE_URL": ("OPENAI_API_KEY",),
    "ANTHROPIC_BASE_URL": ("ANTHROPIC_API_KEY",),
    "HUGGINGFACE_BASE_URL": ("HUGGINGFACE_API_KEY",),
    "GPU_REMOTE_URL": ("GPU_REMOTE_TOKEN",),
    "ENABLE_PAID_API": ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"),
    "SARVANOM_PROVIDERS": (
        "HUGGINGFACE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GPU_REMOTE_TOKEN",
    ),
}
_PROVIDER_KEYS = {
    "huggingface": "HUGGINGFACE_API_KEY",
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "remote_gpu": "GPU_REMOTE_TOKEN",
}
_TRUE = frozenset({"1", "true", "yes", "on"})


class EnvSources:
    """The environment merged with an env file, remembering which value came from where.

    ``values``: the merged mapping (the real environment wins over the file). ``file``:
    what the file held. ``implicit``: whether the file is the implicit ``./.env``.
    """

    __slots__ = ("values", "file", "path", "implicit", "_real")

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
    ) -> None:
        real = os.environ if environ is None else environ
        implicit = env_file is DEFAULT_ENV_FILE
        if implicit and real.get(ENV_FILE_VARIABLE, "").strip():
            env_file, implicit = real[ENV_FILE_VARIABLE].strip(), False
            if not os.path.isfile(env_file):
                raise ConfigurationError(ENV_FILE_VARIABLE, "names no readable file")
        self.path = None if env_file is None else os.fspath(env_file)
        self.implicit = implicit
        self.file: dict[str, str] = {}
        if self.path is not None and os.path.isfile(self.path):
            self.file = read_env_file(self.path)
        self._real = real
        self.values: dict[str, str] = {**self.file, **real}

    def from_real(self, variable: str) -> bool:
        """Whether ``variable`` has a non-empty value from the real environment."""
        return bool(self._real.get(variable, "").strip())

    def from_implicit_file(self, variable: str) -> bool:
        """Whether ``variable``'s value is the implicit ``.env``'s (the environment lacks it)."""
        return (
            self.implicit
            and bool(self.file.get(variable, "").strip())
            and variable not in self._real
        )


def check_redirects(sources: EnvSources, keywords: frozenset[str] = frozenset()) -> None:
    """Refuse a value from the implicit ``.env`` that redirects a key from a trusted source.

    ``keywords``: the variables of the fields the caller passed as keyword arguments (a
    keyword wins over the file, and a key given as a keyword is as trusted as the
    environment)."""
    for setting, keys in _REDIRECTING.items():
        if setting in keywords or not sources.from_implicit_file(setting):
            continue
        raw = sources.file[setting].strip()
        if setting == "ENABLE_PAID_API" and raw.lower() not in _TRUE:
            continue  # turning paid use off redirects nothing
        if setting == "SARVANOM_PROVIDERS":
            named = {item.strip().lower() for item in raw.split(",")}
            keys = tuple(_PROVIDER_KEYS[p] for p in _PROVIDER_KEYS if p in named)
        for key in keys:
            if sources.from_real(key) or key in keywords:
                where = "the process environment" if sources.from_real(key) else "a keyword"
                raise ConfigurationError(
                    setting,
                    f"comes from {sources.path} (found in the current directory) while {key} "
                    f"comes from {where}; a .env found implicitly may not redirect a key. "
                    f"Set {setting} in the environment, put {key} in that file too, or pass "
                    f"the file explicitly (env_file=..., --env-file or {ENV_FILE_VARIABLE})",
                )


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments, ``export`` prefixes and quotes handled.

    UTF-8 only (a leading byte-order mark is skipped); any other encoding, or a file that
    cannot be read, is a :class:`ConfigurationError` naming the file, never a traceback.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ConfigurationError(name, f"cannot be read ({error.strerror})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigurationError(name, "is UTF-16 text; save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigurationError(
            name, f"is not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None
    if "\x00" in text:
        raise ConfigurationError(name, "holds NUL bytes; save it as UTF-8 text")
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out
