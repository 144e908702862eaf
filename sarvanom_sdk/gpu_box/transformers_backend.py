"""A transformers model as the box's backend (``pip install 'sarvanom-sdk[gpu-box]'``).

Loads a model from a local path only (``local_files_only=True``: nothing is downloaded
at run time) onto the GPU when there is one. Generation runs on a worker thread, one at a
time (the box's slots already serialise requests per GPU); a streamed reply is produced
with transformers' ``TextIteratorStreamer`` and sent as OpenAI SSE chunks. Embeddings are
the mean of the last hidden state over the tokens, L2-normalised.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from .backends import BackendError


class TransformersBackend:
    def __init__(self, model_path: str, *, model: str | None = None) -> None:
        self._path = model_path
        self.model = model or model_path.rstrip("/").rsplit("/", 1)[-1]
        self._tokenizer: Any = None
        self._model: Any = None
        self._torch: Any = None

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        try:
            import torch  # type: ignore[import-not-found]
            from transformers import (  # type: ignore[import-not-found]
                AutoModelForCausalLM,
                AutoTokenizer,
            )
        except ImportError as error:
            raise RuntimeError(
                "the transformers backend needs: pip install 'sarvanom-sdk[gpu-box]'"
            ) from error
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(self._path, local_files_only=True)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self._model = AutoModelForCausalLM.from_pretrained(
            self._path, local_files_only=True
        ).to(device)
        self._model.eval()

    async def close(self) -> None:
        self._model = None

    async def healthy(self) -> bool:
        return self._model is not None

    # -- chat --------------------------------------------------------------------------------
    def _inputs(self, body: dict[str, Any]) -> Any:
        messages = [
            {"role": m.get("role", "user"), "content": m.get("content", "")}
            for m in body["messages"] if isinstance(m, dict)
        ]
        if getattr(self._tokenizer, "chat_template", None):
            text = self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        else:
            text = "\n".join(str(m["content"]) for m in messages)
        return self._tokenizer(text, return_tensors="pt").to(self._model.device)

    def _generate_kwargs(self, body: dict[str, Any], inputs: Any) -> dict[str, Any]:
        temperature = float(body.get("temperature", 0) or 0)
        kwargs: dict[str, Any] = {**inputs, "max_new_tokens": int(body.get("max_tokens", 512))}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            kwargs.update(do_sample=False)
        return kwargs

    def _complete(self, body: dict[str, Any]) -> tuple[str, int, int]:
        inputs = self._inputs(body)
        with self._torch.no_grad():
            output = self._model.generate(**self._generate_kwargs(body, inputs))
        prompt_tokens = int(inputs["input_ids"].shape[1])
        new = output[0][prompt_tokens:]
        return self._tokenizer.decode(new, skip_special_tokens=True), prompt_tokens, len(new)

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        self._ready()
        text, prompt_tokens, completion_tokens = await asyncio.to_thread(self._complete, body)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        self._ready()
        from transformers import TextIteratorStreamer

        inputs = self._inputs(body)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {**self._generate_kwargs(body, inputs), "streamer": streamer}
        worker = threading.Thread(target=self._model.generate, kwargs=kwargs, daemon=True)
        worker.start()
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        pieces = iter(streamer)
        yield self._sse(ident, {"role": "assistant", "content": ""})
        while True:
            piece = await asyncio.to_thread(next, pieces, None)
            if piece is None:
                break
            if piece:
                yield self._sse(ident, {"content": piece})
        yield self._sse(ident, {}, "stop") + b"data: [DONE]\n\n"

    def _sse(self, ident: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": self.model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    # -- embeddings --------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> list[list[float]]:
        torch = self._torch
        batch = self._tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
        batch = batch.to(self._model.device)
        with torch.no_grad():
            hidden = self._model(**batch, output_hidden_states=True).hidden_states[-1]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        vectors: list[list[float]] = (
            torch.nn.functional.normalize(mean, dim=-1).float().cpu().tolist()
        )
        return vectors

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        self._ready()
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        vectors = await asyncio.to_thread(self._embed, list(body["input"]))
        return {
            "object": "list",
            "model": self.model,
            "data": [{"object": "embedding", "index": i, "embedding": v}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    def _ready(self) -> None:
        if self._model is None:
            raise BackendError(503, "the model is not loaded")
