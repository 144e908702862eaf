"""Logging that request data cannot forge or fill (F13, F19, F7).

* :func:`shown`: request data (a path, a header) made safe for one log line: control
  characters (CR, LF, NUL, ESC...) and Unicode line breaks escaped, length bounded. The
  access log writes ``request.raw_path`` (still percent-encoded) through it, so a ``%0a``
  in a path can never start a forged line.
* :class:`ParserErrorFilter`: aiohttp's ``aiohttp.server`` logger logs a malformed request
  line or header verbatim, with a traceback, at ERROR — a stray control character after a
  bearer token put the token in the log. The filter replaces such records by one line with
  the error's class only.
* :class:`ResourceErrorFilter`: when the process runs out of file descriptors, asyncio's
  accept loop logs a traceback each time it retries; the filter keeps one line per
  ``every`` seconds.

:func:`install_log_filters` attaches both (``sarvanom serve`` calls it).
"""

from __future__ import annotations

import logging
import re
import time

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, with every control character escaped."""
    cut = text[:limit]
    return _UNSAFE.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}"
        ),
        cut,
    ) + ("..." if len(text) > limit else "")


class ParserErrorFilter(logging.Filter):
    """For ``aiohttp.server``: a record about a request aiohttp could not parse keeps its
    class name and the peer, never the offending bytes (which may hold a token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        from aiohttp.http_exceptions import HttpProcessingError

        if isinstance(exc, HttpProcessingError):
            record.msg = "malformed request refused with %d (%s); its content is not logged"
            record.args = (getattr(exc, "code", 400), type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class ResourceErrorFilter(logging.Filter):
    """For ``asyncio``: "out of system resource" (EMFILE on accept) logged once per
    ``every`` seconds, without its traceback."""

    def __init__(self, every: float = 10.0) -> None:
        super().__init__()
        self.every = every
        self._last = -float("inf")
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in str(record.msg):
            return True
        now = time.monotonic()
        if now - self._last < self.every:
            self.dropped += 1
            return False
        self._last = now
        record.msg = (
            "out of file descriptors: new connections wait (lower --max-connections or "
            "raise 'ulimit -n'); %d such messages suppressed"
        )
        record.args = (self.dropped,)
        record.exc_info = None
        record.exc_text = None
        self.dropped = 0
        return True


def install_log_filters() -> None:
    """Attach the filters above to ``aiohttp.server`` and ``asyncio`` (once)."""
    for name, kind in (("aiohttp.server", ParserErrorFilter), ("asyncio", ResourceErrorFilter)):
        target = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in target.filters):
            target.addFilter(kind())
