"""Reading a Redis URL without ever showing its password (review F11 c).

:func:`parse` splits ``SARVANOM_REDIS_URL`` into a :class:`RedisTarget`; it never raises
anything but :class:`~sarvanom_sdk.errors.ConfigurationError`, whose message never
contains any part of the value. :func:`redacted_url` names the server for logs and health
output: ``scheme://host:port[,host:port...]/path``, no user, no password, no query.

Accepted forms:

* ``redis://[[user]:password@]host[:port][/db][?options]`` and ``rediss://`` (TLS);
* ``unix:///path/to/redis.sock[?db=N]``;
* ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]``: the
  sentinels to ask, and the name of the monitored primary (the password is the data
  nodes' and the sentinels'); ``rediss+sentinel://`` for TLS;
* ``redis+cluster://[[user]:password@]host:port[,host:port...]``: seed nodes of a Redis
  Cluster (any reachable one is enough); ``rediss+cluster://`` for TLS.

The userinfo is everything before the *last* ``@`` of the authority, so a password may
hold unencoded ``/``, ``?``, ``#`` or ``:`` (common with base64 secrets); it is passed to
redis-py percent-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from ..errors import ConfigurationError

FIELD = "SARVANOM_REDIS_URL"
ALLOWED = (
    "must be redis://[:password@]host[:port][/db], rediss://..., unix:///path, "
    "redis+sentinel://host:port[,host:port...]/service_name or "
    "redis+cluster://host:port[,host:port...]"
)
_SCHEMES = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "unix": ("unix", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?")


@dataclass(frozen=True)
class RedisTarget:
    """A parsed Redis URL. ``url`` is what redis-py gets for a single server (userinfo
    percent-encoded); ``hosts`` the (host, port) list of a sentinel or cluster URL."""

    kind: str  # "single" | "unix" | "sentinel" | "cluster"
    url: str
    label: str
    hosts: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def _fail() -> ConfigurationError:
    return ConfigurationError(FIELD, ALLOWED)


def parse(url: str) -> RedisTarget:
    """The target of ``url``, or ConfigurationError (never echoing the value)."""
    scheme, sep, rest = url.partition("://")
    found = _SCHEMES.get(scheme.lower()) if sep else None
    if found is None:
        raise _fail()
    kind, tls = found
    scheme = scheme.lower()
    if kind == "unix":
        path = rest.rpartition("@")[2].split("#", 1)[0].split("?", 1)[0]
        if not path.startswith("/"):
            raise _fail()
        return RedisTarget("unix", url, f"unix://{path}")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        userinfo, hostpart = "", rest
    hostpart = hostpart.split("#", 1)[0]
    hostpart, _, query = hostpart.partition("?")
    authority, slash, path = hostpart.partition("/")
    hosts = []
    for item in authority.split(","):
        match = _HOST.fullmatch(item)
        if match is None:
            raise _fail()
        port = int(match.group(1)) if match.group(1) else 6379
        if not 0 < port < 65536:
            raise _fail()
        host = item.rsplit(":", 1)[0] if match.group(1) else item
        hosts.append((host.strip("[]"), port))
    if len(hosts) > 1 and kind == "single":
        raise _fail()
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    segments = [s for s in path.split("/") if s] if slash else []
    service, db = "", 0
    if kind == "sentinel":
        if not segments:
            raise _fail()
        service, segments = unquote(segments[0]), segments[1:]
    if segments:
        if len(segments) > 1 or not segments[0].isdigit() or kind == "cluster":
            raise _fail()
        db = int(segments[0])
    shown_path = ("/" + "/".join(([service] if service else []) + segments)) if slash else ""
    label = f"{scheme}://{authority}{shown_path if shown_path != '/' else ''}"
    single = url
    if kind == "single":
        cred = ""
        if userinfo:
            cred = quote(username or "", safe="") + (
                ":" + quote(password, safe="") if password is not None else ""
            ) + "@"
        single = f"{scheme}://{cred}{authority}{'/' + path if slash else ''}"
        single += f"?{query}" if query else ""
    return RedisTarget(
        kind, single, label, tuple(hosts), service, db, tls, username, password
    )


def redacted_url(url: str) -> str:
    """``scheme://host:port/path`` of a Redis URL: no user, no password, no query. Never
    raises; a value that does not parse is shown as ``<scheme>://(unparseable)``."""
    try:
        return parse(url).label
    except ConfigurationError:
        scheme = url.partition("://")[0] if "://" in url else ""
        scheme = scheme if re.fullmatch(r"[a-z+]{1,20}", scheme) else "redis"
        return f"{scheme}://(unparseable)"
