"""Who may talk to the gateway from where: the ``Host`` and ``Origin`` rules (F3).

A gateway on loopback with no token is reachable by every web page the operator opens: a
page can send a CORS-"simple" POST (no preflight) and, after rebinding its own DNS name to
127.0.0.1, read the answers as same-origin (the class of Ollama's CVE-2024-28224). So,
whether or not a token is set:

* ``Host`` must name the address the connection came in on, a loopback address or
  ``localhost`` (with no port or the port the connection came in on), or an entry of
  :attr:`Access.allowed_hosts` (for a reverse proxy, ``gateway.example.com`` or
  ``gateway.example.com:443``; ``*`` turns the check off). Otherwise 403
  ``host_not_allowed``: a rebound name never matches.
* ``Origin``, when a browser sends one, must be the gateway's own (same scheme-less host
  and port as ``Host``) or an entry of :attr:`Access.cors_origins`; otherwise 403
  ``origin_not_allowed``. Allowed cross-origin callers get CORS headers, and their
  preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered 204 before
  authentication, as browsers send no credentials on a preflight.
* POST bodies must be ``application/json`` (415 otherwise, see :func:`.limits.read_json`):
  a page cannot send that content type without a preflight, which the Origin rule refuses.

Pure decisions on strings here; :mod:`.app` applies them in a middleware.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import ConfigurationError
from .limits import GatewayError

#: Methods and headers a CORS preflight may ask for.
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = ("authorization", "content-type", "x-request-id", "cache-control")
CORS_EXPOSED = (
    "X-Request-ID, Retry-After, x-sarvanom-provider, x-sarvanom-model, "
    "x-sarvanom-cache, x-sarvanom-overhead-ms"
)
CORS_MAX_AGE = "600"
#: How many allowed (Host, local address) pairs an :class:`Access` remembers.
_KNOWN_HOSTS = 256


@dataclass(frozen=True, slots=True)
class Access:
    """The Host allow-list (beyond the bound address and loopback) and the CORS
    allow-list (origins such as ``https://app.example.com``; empty: no cross-origin
    caller). Entries are compared case-insensitively."""

    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    #: (Host, local address) pairs already allowed: a repeated Host is not parsed again
    #: (issue 18). Only allowed pairs, at most ``_KNOWN_HOSTS`` of them.
    _known: dict[tuple[str | None, tuple[str, int] | None], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        hosts = _normalised("allowed_hosts", self.allowed_hosts)
        origins = _normalised("cors_origins", self.cors_origins)
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ConfigurationError(
                    "cors_origins", f"an origin is scheme://host[:port], got {origin!r}"
                )
        object.__setattr__(self, "allowed_hosts", hosts)
        object.__setattr__(self, "cors_origins", tuple(o.rstrip("/") for o in origins))

    def check_host(self, host: str | None, local: tuple[str, int] | None) -> None:
        """403 unless ``host`` (the Host header) names this gateway; ``local`` is the
        (address, port) the connection came in on."""
        if "*" in self.allowed_hosts or (host, local) in self._known:
            return
        value = (host or "").strip().lower()
        name, port = split_host(value)
        if name is not None and (
            value in self.allowed_hosts or name in self.allowed_hosts or _is_own(name, port, local)
        ):
            if len(self._known) < _KNOWN_HOSTS:
                self._known[(host, local)] = True
            return
        raise GatewayError(
            403,
            f"Host {_shown(host)} is not served here (DNS rebinding protection); an "
            "operator behind a proxy adds it with --allowed-host / "
            "SARVANOM_GATEWAY_ALLOWED_HOSTS",
            code="host_not_allowed",
        )

    def check_origin(self, origin: str | None, host: str | None) -> bool:
        """Whether a cross-origin caller is talking (so CORS headers are due): False for
        no Origin or the gateway's own; True for an allowed origin; 403 otherwise."""
        if origin is None:
            return False
        value = origin.strip().lower().rstrip("/")
        own = value.partition("://")[2] if "://" in value else None
        if own is not None and host is not None and own == host.strip().lower():
            return False
        if value in self.cors_origins or ("*" in self.cors_origins and value != "null"):
            return True
        raise GatewayError(
            403,
            f"Origin {_shown(origin)} may not call this gateway (cross-site requests are "
            "refused); allow it with --cors-origin / SARVANOM_GATEWAY_CORS_ORIGINS",
            code="origin_not_allowed",
        )

    @staticmethod
    def cors_headers(origin: str) -> dict[str, str]:
        """The headers of an answer to an allowed cross-origin caller."""
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": CORS_EXPOSED,
            "Vary": "Origin",
        }

    @staticmethod
    def preflight_headers(origin: str, requested: str | None) -> dict[str, str]:
        """A preflight's answer; 403 when it asks for a header the gateway does not take."""
        asked = [h.strip().lower() for h in (requested or "").split(",") if h.strip()]
        refused = [h for h in asked if h not in CORS_HEADERS]
        if refused:
            raise GatewayError(
                403,
                f"header {refused[0][:64]!r} is not allowed here; allowed: "
                f"{', '.join(CORS_HEADERS)}",
                code="origin_not_allowed",
            )
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Allow-Headers": ", ".join(CORS_HEADERS),
            "Access-Control-Max-Age": CORS_MAX_AGE,
            "Vary": "Origin",
        }


def parse_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """A comma-separated setting (or repeated option values) as a tuple of entries."""
    if value is None:
        return ()
    items = (
        value.split(",")
        if isinstance(value, str)
        else [part for item in value for part in item.split(",")]
    )
    return tuple(item.strip() for item in items if item.strip())


def split_host(value: str) -> tuple[str | None, int | None]:
    """``(name, port)`` of a Host header value; ``(None, None)`` when it is malformed."""
    if not value:
        return None, None
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            return None, None
        port_text = rest[1:] if rest else ""
    elif value.count(":") > 1:
        return None, None  # an IPv6 literal must be bracketed in a Host header
    else:
        name, _, port_text = value.partition(":")
    if port_text:
        if not port_text.isdigit() or len(port_text) > 5:
            return None, None
        return name, int(port_text)
    return name, None


def _is_own(name: str, port: int | None, local: tuple[str, int] | None) -> bool:
    if port is not None and local is not None and port != local[1]:
        return False
    if name in ("localhost", "localhost."):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    if local is None:
        return False
    try:
        return address == ipaddress.ip_address(local[0].split("%")[0])
    except ValueError:
        return False


def _normalised(name: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ConfigurationError(name, "must be a list of strings, not one string")
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip() or not value.isprintable():
            raise ConfigurationError(name, f"entries must be non-empty text, got {value!r}")
        out.append(value.strip().lower())
    return tuple(out)


def _shown(value: str | None) -> str:
    if value is None:
        return "(none)"
    return repr(value[:100])


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return method == "OPTIONS" and "Access-Control-Request-Method" in headers
