"""Random ids for requests and answers (trace ids, ``chatcmpl-…``, ``msg_…``).

:func:`new_id`: 32 lowercase hex digits, as ``uuid.uuid4().hex`` gives, from 128 random
bits of ``os.urandom`` — without building a UUID object, which cost more than the rest
of a request's id handling together (issue 18).
"""

from __future__ import annotations

import os


def new_id() -> str:
    """128 random bits as 32 lowercase hex digits."""
    return os.urandom(16).hex()
