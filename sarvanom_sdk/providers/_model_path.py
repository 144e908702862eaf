"""A model name that goes into a request *path* (Hugging Face's task API: ``/models/{model}``).

Any adapter that puts a model in a URL uses :func:`model_path`: the name can never change
which path or query the request (and its key) reaches. Refused, before any network call:
``.``/``..`` segments, empty segments, a leading ``/``, ``?``, ``#``, ``%`` (no pre-encoded
escapes), a backslash, whitespace and control characters. What is left is quoted with
``quote(model, safe="/")``, so ``org/name`` keeps its one slash.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ..errors import ConfigurationError, InvalidRequestError

__all__ = ["check_model_path", "model_path"]

_FORBIDDEN = re.compile(r"[?#%\\\s\x00-\x1f\x7f]")


def _problem(model: str) -> str | None:
    """What makes ``model`` unsafe in a path, or None."""
    if not model:
        return "must be a non-empty string"
    if model.startswith("/"):
        return "must not start with '/'"
    match = _FORBIDDEN.search(model)
    if match:
        char = match.group()
        shown = repr(char) if char in "?#%\\" else "whitespace or a control character"
        return f"must not contain {shown} (it would change the request's URL)"
    if any(part in ("", ".", "..") for part in model.split("/")):
        return "must not contain '.', '..' or empty path segments"
    return None


def model_path(model: str, field: str = "model") -> str:
    """``model`` quoted for a URL path; :class:`InvalidRequestError` naming ``field`` when
    it could change the path."""
    problem = _problem(model)
    if problem:
        raise InvalidRequestError(field, problem)
    return quote(model, safe="/")


def check_model_path(model: str, variable: str) -> None:
    """The same rule for a configured default model (:class:`ConfigurationError`)."""
    problem = _problem(model)
    if problem:
        raise ConfigurationError(variable, problem)
