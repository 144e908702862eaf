"""Fork safety for objects that hold sockets, pools or event-loop objects.

A client made before ``os.fork()`` (gunicorn ``--preload``, multiprocessing's ``fork``
context) is copied into the child with its pooled keep-alive sockets: two processes
writing requests on one socket read each other's replies. Each transport therefore
registers itself here, and in every child this module calls its ``after_fork_in_child()``
once, right after the fork and before any other code of the child runs: the transport
lets go of what it inherited and makes its own pool on first use.

``os.register_at_fork`` runs for every fork made through Python's ``os.fork`` (which
multiprocessing and gunicorn use), so the request path pays nothing for it.
The registry holds transports weakly: a client that is dropped is not kept alive.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None:
        """Drop (never use, never close through its event loop) what the parent owns."""


_HOLDERS: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def renew_after_fork(holder: ForkAware) -> None:
    """Call ``holder.after_fork_in_child()`` in each child forked from now on."""
    _HOLDERS.add(holder)


def _after_fork_in_child() -> None:
    for holder in list(_HOLDERS):
        holder.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["ForkAware", "renew_after_fork"]
