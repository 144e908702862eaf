"""The gateway: the SDK as an HTTP service (``sarvanom serve``).

``create_app(client)`` returns an ``aiohttp.web`` application serving the seed's endpoints
(``/health/gpu-providers``, ``/api/query``), OpenAI's (``/v1/chat/completions``,
``/v1/models``), ``/health`` and Prometheus ``/metrics``; :mod:`.server` serves it with safe
HTTP timeouts and caps. See :mod:`.app` for the endpoints, :mod:`.openai_compat` for the
model names, :mod:`.access` for the Host/Origin rules and :mod:`.callers` for what a caller
may choose per request. Importing this package imports aiohttp.
"""

from . import server
from .access import Access
from .app import create_app
from .callers import CallerPolicy
from .limits import GatewayError, Limits

__all__ = ["Access", "CallerPolicy", "GatewayError", "Limits", "create_app", "server"]
