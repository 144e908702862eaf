"""``sarvanom gpu-box``: a small reference server for the free remote GPU box.

Run it on Colab, Kaggle, an HF Space or any GPU host, expose it through a tunnel, and point
the SDK's ``GPU_REMOTE_URL`` at it. It speaks the seed protocol (``GET /health``,
``POST /generate``) and OpenAI's (``/v1/chat/completions`` with streaming, ``/v1/models``,
``/v1/embeddings``) over a backend: an OpenAI-compatible server such as llama.cpp's
(:class:`~.backends.OpenAIBackend`) or a local transformers model
(:class:`~.transformers_backend.TransformersBackend`, ``pip install 'sarvanom-sdk[gpu-box]'``).

The SDK library never imports this package (it needs aiohttp.web).
"""

from __future__ import annotations

from .app import GpuBox, create_app
from .backends import Backend, BackendError, OpenAIBackend
from .slots import GpuSlots, QueueFull

__all__ = [
    "Backend", "BackendError", "GpuBox", "GpuSlots", "OpenAIBackend", "QueueFull", "create_app",
]
