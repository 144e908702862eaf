"""The gateway: the SDK as an HTTP service (``sarvanom serve``).

``create_app(client)`` returns an ``aiohttp.web`` application serving the seed's endpoints
(``/health/gpu-providers``, ``/api/query``), OpenAI's (``/v1/chat/completions``,
``/v1/models``), ``/health`` and Prometheus ``/metrics``. See :mod:`.app` for the endpoints
and :mod:`.openai_compat` for the model names. Importing this package imports aiohttp.
"""

from .app import create_app
from .limits import GatewayError, Limits

__all__ = ["GatewayError", "Limits", "create_app"]
