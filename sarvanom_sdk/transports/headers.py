"""The request headers a transport sends (sans-IO, shared by both transports).

A header value HTTP/1.1 cannot carry — a character outside Latin-1 (a pasted U+2011
hyphen in a key), or a control character (CR, LF, NUL...) — made requests raise
``UnicodeEncodeError`` and aiohttp ``ValueError`` (or send UTF-8), out of ``complete()``.
Non-ASCII values are refused too: requests would send them as Latin-1 and aiohttp as
UTF-8, so the two clients would send different keys.
:func:`outgoing_headers` turns it into a :class:`~sarvanom_sdk.errors.ProviderConnectionError`
that names the header and never shows its value (it is usually a key), so the chain skips
the provider, the same way with both clients.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import ProviderConnectionError
from .decoding import ACCEPT_ENCODING

#: RFC 9110 field-value without obs-text: visible ASCII, space and tab.
_SENDABLE_VALUE = re.compile(r"[\t\x20-\x7e]*")
#: RFC 9110 token (a field name).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


#: Checked headers of the read-only mappings adapters build once and share between
#: calls (``MappingProxyType``, keyed by identity; the value keeps the mapping alive, so
#: its id cannot be reused). Bounded: cleared when full.
_CHECKED: dict[int, tuple[Mapping[str, str], dict[str, str]]] = {}
_CHECKED_MAX = 256


def outgoing_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` checked, with ``Accept-Encoding`` set to the codings the transports can
    decode with a size bound (a caller's own Accept-Encoding is replaced).

    An adapter's read-only header mapping is checked once, on its first call; the dict
    returned for it is then shared by every call (the HTTP libraries copy it, never
    change it)."""
    if type(headers) is not MappingProxyType:
        return _checked(headers)
    known = _CHECKED.get(id(headers))
    if known is not None and known[0] is headers:
        return known[1]
    out = _checked(headers)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED[id(headers)] = (headers, out)
    return out


def _checked(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise ProviderConnectionError(
                f"request header name {name[:40]!r} is not a valid HTTP field name"
            )
        if not isinstance(value, str) or not _SENDABLE_VALUE.fullmatch(value):
            raise ProviderConnectionError(
                f"request header {name!r} holds a character HTTP cannot send (a control or"
                " non-ASCII character; check the key or token for a pasted character)"
            )
        if name.lower() != "accept-encoding":
            out[name] = value
    out["Accept-Encoding"] = ACCEPT_ENCODING
    return out


__all__ = ["outgoing_headers"]
