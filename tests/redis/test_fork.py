"""Shared state in a forked child (gunicorn --preload): a client built before ``fork()``
works in the child, whose listener, writer, locks and leases are its own."""

from __future__ import annotations

import os
import uuid

import pytest
from redis_helpers import free_chain

from sarvanom_sdk import SarvanClient
from sarvanom_sdk.shared_state import flush
from sarvanom_sdk.testing import ProviderEmulator


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_client_built_before_fork_shares_state_in_the_child(
    emu: ProviderEmulator, redis_url: str
) -> None:
    options = dict(
        free_chain(emu, redis_url, providers=("ollama_local", "openai")),
        openai_base_url=emu.url_for("openai"),
        enable_paid_api=True,
        budget_usd=1.0,
    )
    client = SarvanClient(env_file=None, **options)
    client.complete("before the fork")  # listener, writer and lease exist in the parent
    prompt = f"from the child {uuid.uuid4().hex}"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, store, report, leave without running atexit twice
        code = 1
        try:
            answer = client.complete(prompt)
            code = 0 if answer.provider.value == "ollama_local" and flush(5.0) else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    code = os.read(read, 1)
    os.waitpid(pid, 0)
    os.close(read)
    assert code == b"\x00", code
    assert SarvanClient(env_file=None, **options).complete(prompt).cached, "shared from the child"
