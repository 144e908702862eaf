"""F20 (security review) and D21 (ux review): the emulator keeps bounded memory, and
``sarvanom emulate`` stays on loopback unless told otherwise, and says where it listens.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sarvanom_cli.emulate import banner, bind_warnings, check_bind, emulate

from sarvanom_sdk.testing import ProviderEmulator
from sarvanom_sdk.testing.emulator import MAX_RECORD_BODY, MAX_RECORDS

BEARER = {"Authorization": "Bearer k"}


def _big_chat(emu: ProviderEmulator, n_bytes: int) -> requests.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * n_bytes}]}
    url = emu.url_for("openai") + "/chat/completions"
    return requests.post(url, json=body, headers=BEARER, timeout=30)


def test_f20_recorded_bodies_are_cut_to_a_small_size_by_default() -> None:
    with ProviderEmulator() as emu:
        for _ in range(3):
            assert _big_chat(emu, 2 * 1024 * 1024).status_code == 200
        assert _big_chat(emu, 10).status_code == 200
        records = emu.requests("openai")
    big, small = records[0], records[-1]
    assert len(big.body) == MAX_RECORD_BODY and big.truncated
    assert big.body_size > 2 * 1024 * 1024 and big.json is None
    assert not small.truncated and small.json["messages"][0]["content"] == "x" * 10
    assert sum(len(r.body) for r in records) <= 4 * MAX_RECORD_BODY


def test_f20_recorded_requests_are_bounded_by_default_and_counts_stay_exact() -> None:
    assert MAX_RECORDS <= 1_000
    with ProviderEmulator() as emu:
        log = emu._log  # the default, not a number a test chose
        assert log._records.maxlen == MAX_RECORDS


def test_f20_retained_memory_does_not_grow_with_big_answered_requests() -> None:
    """The review's measurement: 12 x 16 MiB requests raised RSS by ~430 MiB, since every
    body stayed recorded. Now what stays is 12 x 8 KiB."""
    with ProviderEmulator() as emu:
        for _ in range(12):
            assert _big_chat(emu, 4 * 1024 * 1024).status_code == 200
        gc.collect()
        kept = sum(len(r.body) + len(json.dumps(r.json or "")) for r in emu.requests())
    assert kept <= 12 * (MAX_RECORD_BODY + 16)


@pytest.mark.provider_emulator(max_record_body=None, max_records=None)
def test_f20_tests_that_need_whole_bodies_can_ask_for_them(
    provider_emulator: ProviderEmulator,
) -> None:
    assert _big_chat(provider_emulator, 100_000).status_code == 200
    (record,) = provider_emulator.requests()
    assert not record.truncated and len(record.json["messages"][0]["content"]) == 100_000


def test_f20_max_request_bytes_refuses_a_bigger_body() -> None:
    with ProviderEmulator(max_request_bytes=1024) as emu:
        assert _big_chat(emu, 4096).status_code == 413
        assert _big_chat(emu, 10).status_code == 200


@pytest.mark.parametrize("option", ["max_records", "max_record_body"])
def test_f20_negative_limits_are_refused(option: str) -> None:
    with pytest.raises(ValueError, match=option):
        ProviderEmulator(**{option: -1})


# -- sarvanom emulate: where it listens ----------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.10", "example.com", "0"])
def test_f20_emulate_refuses_a_non_loopback_host_without_allow_remote(host: str) -> None:
    result = CliRunner().invoke(emulate, ["--host", host, "--port", "0"])
    assert result.exit_code == 1
    assert "--allow-remote" in result.output and "refusing to listen on" in result.output


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_f20_loopback_hosts_need_no_flag(host: str) -> None:
    check_bind(host, allow_remote=False)  # no exception


def test_f20_allow_remote_lets_any_host_through() -> None:
    check_bind("0.0.0.0", allow_remote=True)


def test_d21_the_banner_names_the_real_bind_address_and_warns_on_every_interface() -> None:
    urls = {name: f"http://127.0.0.1:9/{name}" for name in
            ("ollama", "remote_gpu", "remote_gpu_openai", "huggingface", "huggingface_task",
             "openai", "anthropic")}  # fmt: skip
    lines = banner(["http://0.0.0.0:8765"], urls)
    assert lines[0] == "listening on http://0.0.0.0:8765"
    (warning,) = bind_warnings(["http://0.0.0.0:8765"])
    assert "every interface" in warning and "any API key" in warning
    assert "every interface" in bind_warnings(["http://[::]:8765"])[0]
    assert "reachable from the network" in bind_warnings(["http://10.0.0.5:8765"])[0]
    assert bind_warnings(["http://127.0.0.1:8765", "http://[::1]:8765"]) == []


def test_d21_bound_reports_the_listening_socket() -> None:
    with ProviderEmulator("127.0.0.2") as emu:
        assert emu.bound == [f"http://127.0.0.2:{emu.port}"]
        assert emu.root == f"http://127.0.0.2:{emu.port}"


def _child_env() -> dict[str, Any]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_d21_emulate_prints_the_address_it_bound() -> None:
    """End to end on a second loopback address: the first line is the socket bound, and
    no warning on stderr (the wildcard case is checked above without binding it)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "sarvanom_cli.main", "emulate", "--host", "127.0.0.3",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env(),
    )  # fmt: skip
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("listening on http://127.0.0.3:")
    finally:
        child.terminate()
        _, err = child.communicate(timeout=30)
    assert "warning" not in err
