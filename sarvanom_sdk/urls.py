"""Base URLs: how they are shown, and which ones may carry a key.

One rule for showing a URL anywhere (CLI output, ``repr(Settings)``, error messages, health
output): :func:`display_url` renders ``scheme://host:port/path`` and nothing else — no
userinfo (``user:password@``), no query (``?password=...``), no fragment — and never fails,
whatever the value (an unencoded ``/``, ``?`` or ``#`` in a password included).

One rule for sending a key (:func:`check_base_url`): a base URL that carries a key or token
must be ``https://`` unless its host is loopback (``SARVANOM_ALLOW_HTTP_KEYED_URLS=true``
allows ``http://`` for a trusted LAN), and may not hold credentials of its own (the key
goes in a header; URL credentials would replace or clash with it).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = ["check_base_url", "display_url", "is_loopback_host"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")


def display_url(url: str | None) -> str | None:
    """``url`` as ``scheme://host:port/path``: no userinfo, query or fragment.

    A value that is not a URL at all is shown as ``<not a URL>``, never echoed (it may be
    a secret pasted into the wrong variable). Comma-separated lists (``OLLAMA_BASE_URL``)
    are shown item by item.
    """
    if url is None:
        return None
    if "," in url:
        return ",".join(display_url(item.strip()) or "" for item in url.split(","))
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not _SCHEME.match(scheme):
        return "<not a URL>"
    # Userinfo ends at the *last* '@': a password may hold '/', '?', '#' or '@' unencoded.
    rest = rest.rpartition("@")[2]
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    return f"{scheme.lower()}://{_UNPRINTABLE.sub('', rest)}"


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and the loopback ranges (127.0.0.0/8, ::1)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url_shape(variable: str, url: str) -> None:
    """An ``http://`` or ``https://`` URL with a host and a valid port; the error says what
    is wrong without echoing the value."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigurationError(
            variable, f"malformed URL (shown without credentials: {display_url(url)})"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(
            variable,
            "must be an http:// or https:// URL"
            + (f" (the scheme is {parts.scheme!r})" if _SCHEME.match(parts.scheme or "-") else ""),
        )
    if not parts.hostname:
        raise ConfigurationError(variable, "must be an http:// or https:// URL with a host")


def has_credentials(url: str) -> bool:
    """Whether ``url`` holds userinfo (``user:password@``)."""
    return "@" in urlsplit(url).netloc or "@" in url.partition("://")[2].split("/", 1)[0]


def check_base_url(
    variable: str,
    url: str,
    *,
    key_variable: str | None,
    clear_text_risk: bool = False,
    allow_http: bool = False,
) -> None:
    """Refuse a base URL that would put a key (``key_variable`` names it; None when no key
    goes there) at risk: ``http://`` to a non-loopback host (unless ``allow_http``), or
    credentials in the URL alongside the key. ``clear_text_risk`` applies the https rule
    even without a key (the remote GPU box: every prompt crosses a public tunnel)."""
    check_url_shape(variable, url)
    if key_variable and has_credentials(url):
        raise ConfigurationError(
            variable,
            f"holds credentials (user:password@) while {key_variable} is set; use one or the "
            "other (the key goes in the Authorization header)",
        )
    if not (key_variable or clear_text_risk) or allow_http:
        return
    parts = urlsplit(url)
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        carried = f"{key_variable} and every prompt" if key_variable else "every prompt"
        raise ConfigurationError(
            variable,
            f"must be https:// unless the host is loopback ({carried} would cross the network "
            "in clear text); set SARVANOM_ALLOW_HTTP_KEYED_URLS=true for a trusted LAN",
        )
