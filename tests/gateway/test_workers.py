"""``sarvanom serve --workers N`` (issue 18 goal 3): real ``sarvanom serve`` children on
127.0.0.1 — every worker answers, /metrics shows the totals of all, SIGTERM drains every
worker, a killed worker is restarted, and a limit the operator set holds for the whole
gateway (split between workers), never N times. Plus the sans-IO split itself.

Time bounds are generous (a busy 2-core machine); nothing here measures speed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sarvanom_sdk import Settings
from sarvanom_sdk.errors import ConfigurationError
from sarvanom_sdk.gateway import Limits
from sarvanom_sdk.gateway import shares as split
from sarvanom_sdk.gateway.tokens import Keyring
from sarvanom_sdk.gateway.workers import (
    EXIT_CONFIG,
    WORKER_HEADER,
    backoff,
    cgroup_cpu_quota,
    default_workers,
)
from sarvanom_sdk.types import ProviderName

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sk-workers-test-0123456789"
_DROP = ("SARVANOM_", "OLLAMA", "GPU_", "HUGGINGFACE", "OPENAI", "ANTHROPIC", "ENABLE_PAID",
         "PROMETHEUS_")


# -- the split (sans-IO) ---------------------------------------------------------------------
@pytest.mark.parametrize("total", [0, 1, 2, 5, 7, 60, 256, 1001])
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_issue18_3_shares_sum_to_the_limit_exactly(total: int, workers: int) -> None:
    parts = [split.Share(i, workers).count(total) for i in range(workers)]
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1


def test_issue18_3_gateway_limits_are_divided_between_workers() -> None:
    limits = Limits(max_in_flight=5, max_connections=9, max_waiting=10)
    shares = [split.limits_share(limits, split.Share(i, 2)) for i in range(2)]
    assert [s.max_in_flight for s in shares] == [3, 2]
    assert [s.max_connections for s in shares] == [5, 4]
    assert [s.max_waiting for s in shares] == [5, 5]
    assert split.limits_share(Limits(), split.Share(0, 2)).max_connections == 0  # per process
    assert split.limits_share(limits, split.WHOLE) is limits


def test_issue18_3_a_limit_smaller_than_the_workers_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="--max-in-flight: 1 is less than --workers 2"):
        split.check_workers(Limits(max_in_flight=1), 2)
    with pytest.raises(ConfigurationError, match="--max-connections"):
        split.check_workers(Limits(max_connections=3), 4)
    split.check_workers(Limits(max_in_flight=2), 2)


def test_issue18_3_the_cost_budget_is_split_without_redis_and_whole_with_it() -> None:
    settings = Settings(budget_usd=10.0, enable_paid_api=True)
    overrides = split.settings_share(settings, split.Share(1, 4))
    assert overrides["budget_usd"] == pytest.approx(2.5)
    shared = Settings(budget_usd=10.0, redis_url="redis://127.0.0.1:6379/0")
    assert "budget_usd" not in split.settings_share(shared, split.Share(1, 4))
    assert split.settings_share(settings, split.WHOLE) == {}


def test_issue18_3_bulkheads_are_divided_but_keep_one_call_per_worker() -> None:
    settings = Settings(max_concurrency="ollama_local=1,openai=10")
    for index, (ollama, openai) in enumerate([(1, 4), (1, 3), (1, 3)]):
        worker = Settings(**split.settings_share(settings, split.Share(index, 3)))
        assert worker.concurrency_limit(ProviderName.OLLAMA_LOCAL) == ollama
        assert worker.concurrency_limit(ProviderName.OPENAI) == openai
    lines = split.describe(
        Limits(), Settings(ollama_base_url="http://127.0.0.1:1", max_concurrency="ollama_local=1"),
        None, 3, False,
    )
    assert any("ollama_local=1 is below --workers 3" in line for line in lines)


def test_issue18_3_token_limits_are_split_without_redis() -> None:
    keyring = Keyring.parse(f"team:{TOKEN}:rpm=3,tpm=1001,usd=5 open:{TOKEN}x")
    parts = [split.keyring_share(keyring, split.Share(i, 2), shared=False) for i in range(2)]
    team = [k.identify(TOKEN).limits for k in parts]
    assert [t.requests_per_minute for t in team] == [2, 1]
    assert [t.tokens_per_minute for t in team] == [501, 500]
    assert [t.budget_usd for t in team] == [2.5, 2.5]
    assert all(k.identify(TOKEN + "x").limits.requests_per_minute is None for k in parts)
    assert split.keyring_share(keyring, split.Share(0, 2), shared=True) is keyring


def test_issue18_3_restart_backoff_grows_and_is_bounded() -> None:
    delays = [backoff(n) for n in range(1, 12)]
    assert delays[0] == 0.5 and delays[1] == 1.0
    assert delays == sorted(delays) and max(delays) == 30.0


def test_issue18_3_default_workers_is_the_core_count(tmp_path: Path) -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers(str(tmp_path)) == expected  # no quota file: the cores
    (tmp_path / "cpu.max").write_text("100000 100000\n")  # a container with --cpus 1
    assert default_workers(str(tmp_path)) == 1


@pytest.mark.parametrize(
    ("files", "cores"),
    [
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "250000 100000"}, 3),
        ({"cpu.max": "50000 100000"}, 1),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_issue18_3_the_cgroup_cpu_quota_caps_the_default(
    tmp_path: Path, files: dict[str, str], cores: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(str(tmp_path)) == cores


# -- real `sarvanom serve --workers 2` children --------------------------------------------------
class Served:
    """A ``sarvanom serve`` child: its process, port and stderr lines (read by a thread)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.port = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for(self, pattern: str, seconds: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                pytest.fail(f"sarvanom serve exited: {''.join(self.lines)}")
            time.sleep(0.05)
        pytest.fail(f"no line matching {pattern!r} within {seconds} s: {''.join(self.lines)}")

    def workers(self) -> set[int]:
        """The pids of the server's child processes now."""
        return children_of(self.process.pid)


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def serve_workers(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        )
        environment.update(env or {})
        process = subprocess.Popen(
            [sys.executable, "-m", "sarvanom_cli.main", "serve", "--port", "0",
             "--log-level", "warning", *args],
            cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        served = Served(process)
        started.append(served)
        served.port = int(served.wait_for(r"http://127\.0\.0\.1:(\d+)").group(1))
        return served

    yield start
    for served in started:
        pids = served.workers()
        if served.process.poll() is None:
            served.process.send_signal(signal.SIGTERM)
            try:
                served.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.process.wait()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def call(
    port: int, method: str = "GET", path: str = "/health", body: Any = None,
    headers: dict[str, str] | None = None, timeout: float = 60.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection (so the kernel may pick any worker)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = {"Connection": "close", **(headers or {})}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=sent)
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()


def answering_workers(port: int, count: int = 40) -> list[int]:
    return [int(call(port)[1][WORKER_HEADER]) for _ in range(count)]


def metric(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, f"{series} not in /metrics"
    return float(found.group(1))


def test_issue18_3_every_worker_answers_and_metrics_show_the_totals(serve_workers) -> None:
    served = serve_workers("--workers", "2")
    workers = served.workers()
    assert len(workers) == 2
    pids = answering_workers(served.port)
    assert set(pids) == workers  # both answer, and only the supervisor's children do
    health = 'sarvanom_gateway_requests_total{endpoint="/health",status="200"}'
    for _ in range(6):  # whichever worker answers the scrape: the sum over both
        status, headers, body = call(served.port, path="/metrics")
        assert status == 200
        text = body.decode()
        assert metric(text, health) == len(pids)
        assert metric(text, "sarvanom_gateway_workers") == 2
    banners = [line for line in served.lines if "sarvanom gateway on http://" in line]
    assert len(banners) == 1 and "workers: 2" in banners[0]  # the real port, printed once


def test_issue18_3_a_killed_worker_is_restarted_and_sigterm_stops_all(serve_workers) -> None:
    served = serve_workers("--workers", "2")
    first = served.workers()
    assert len(first) == 2
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    served.wait_for(rf"worker \d \(pid {victim}\) was killed by SIGKILL; restarting it in")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        now = served.workers()
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no replacement worker: {served.workers()} {''.join(served.lines)}")
    replacement = (now - first).pop()
    deadline = time.monotonic() + 90
    while replacement not in answering_workers(served.port, 10):  # it serves the same port
        assert time.monotonic() < deadline, "the restarted worker never answered"
    # the metrics of the killed worker's requests are not lost (counters), its gauge is
    text = call(served.port, path="/metrics")[2].decode()
    assert metric(text, "sarvanom_gateway_workers") == 2
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=90) == 0
    assert not [pid for pid in now if alive(pid)]


@pytest.fixture
def slow_upstream() -> Iterator[str]:
    """The benchmarks' loopback server (Ollama's /api/chat), answering after 3 s."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_server.py"), "--port", "0", "--delay", "3"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_issue18_3_sigterm_lets_every_workers_in_flight_request_finish(
    serve_workers, slow_upstream
) -> None:
    served = serve_workers(
        "--workers", "2", "--shutdown-timeout", "60",
        env={"OLLAMA_BASE_URL": slow_upstream, "SARVANOM_PROVIDERS": "ollama_local",
             "SARVANOM_CACHE_TTL_SECONDS": "0", "LLM_TIMEOUT_SECONDS": "60",
             "SARVANOM_TOTAL_TIMEOUT_SECONDS": "60", "SARVANOM_MAX_CONCURRENCY": "ollama_local=16"},
    )
    workers = served.workers()
    while set(answering_workers(served.port, 10)) != workers:  # both are serving
        pass
    results: list[tuple[int, dict[str, str], bytes]] = []

    def query() -> None:
        results.append(call(served.port, "POST", "/api/query", {"prompt": "hi"}, timeout=90))

    threads = [threading.Thread(target=query) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # the queries are in the 3 s upstream wait
    served.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=120)
    assert served.process.wait(timeout=120) == 0
    assert len(results) == 8
    assert all(status == 200 for status, _, _ in results), results
    assert all(json.loads(body)["provider"] == "ollama_local" for _, _, body in results)
    assert {headers[WORKER_HEADER] for _, headers, _ in results} <= {str(p) for p in workers}
    assert not [pid for pid in workers if alive(pid)]


def test_issue18_3_a_token_rate_limit_holds_across_workers(serve_workers) -> None:
    """rpm=2 on 2 workers without Redis: each worker admits 1, so the gateway admits 2 in
    the minute however the requests spread — never 2 per worker."""
    served = serve_workers("--workers", "2", "--tokens", f"team:{TOKEN}:rpm=2")
    assert "limits split across 2 workers" in "".join(served.lines)
    assert any("token limits (rpm, tpm, usd): split across 2 workers" in line
               for line in served.lines)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    replies = [
        call(served.port, "POST", "/api/query", {"prompt": "hi"}, headers=auth)
        for _ in range(16)
    ]
    statuses = [status for status, _, _ in replies]
    assert set(statuses) <= {200, 429}
    assert {headers[WORKER_HEADER] for _, headers, _ in replies} == {
        str(p) for p in served.workers()
    }  # the requests reached both workers...
    assert statuses.count(200) == 2  # ...and together they admitted the limit, not twice it


_SUPERVISED = """
import sys, time
from sarvanom_sdk.gateway.workers import EXIT_CONFIG, supervise

def work(index, first):
    if index == 1:
        return EXIT_CONFIG  # could not build its app
    time.sleep(120)  # stopped by the supervisor's SIGTERM
    return 0

sys.exit(supervise(work, 2, shutdown_timeout=5))
"""


def test_issue18_3_a_configuration_error_in_a_worker_stops_the_gateway() -> None:
    """A worker that exits EX_CONFIG (it could not build its app) is not restarted in a
    loop: the supervisor stops the others and exits 1."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _SUPERVISED], env=environment, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 100  # not the sleeping worker's 120 s
    assert EXIT_CONFIG == 78


def test_issue18_3_f7_sigterm_cuts_trickling_uploads_on_every_worker(serve_workers) -> None:
    """F7 with workers: SIGTERM to the supervisor reaches every worker, and each cuts the
    uploads still arriving (503) instead of waiting out --shutdown-timeout."""
    import socket

    served = serve_workers("--workers", "2", "--shutdown-timeout", "60", "--body-timeout", "90")
    head = (b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"prompt": "a')
    uploads = []
    for _ in range(8):  # fresh connections: the kernel spreads them over both workers
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=60)
        sock.sendall(head)
        uploads.append(sock)
    time.sleep(1.0)  # the handlers are reading the bodies
    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    replies = []
    for sock in uploads:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        sock.close()
        replies.append(b"".join(chunks))
    assert served.process.wait(timeout=90) == 0
    assert time.monotonic() - started < 45  # neither the 60 s shutdown nor the 90 s body wait
    assert all(r.startswith(b"HTTP/1.1 503 ") and b"shutting_down" in r for r in replies)
    answered = {re.search(rb"x-sarvanom-worker: (\d+)", r, re.I).group(1) for r in replies}
    assert len(answered) == 2  # both workers were cutting uploads


def test_issue18_3_serve_defaults_to_the_cores_and_reads_the_environment(
    monkeypatch, tmp_path
) -> None:
    import sarvanom_cli.serve as serve_module
    from click.testing import CliRunner

    from sarvanom_sdk.gateway import server, workers

    monkeypatch.chdir(tmp_path)
    for name in ("SARVANOM_GATEWAY_TOKEN", "SARVANOM_GATEWAY_WORKERS", "SARVANOM_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(serve_module, "_configure_logging", lambda level: None)
    pools: list[tuple[int, list[str]]] = []
    singles: list[int] = []
    monkeypatch.setattr(serve_module, "_serve_workers",
                        lambda plan, *rest: pools.append((plan.workers, plan.lines())))
    monkeypatch.setattr(server, "serve", lambda app, host, port, **kw: singles.append(port))
    monkeypatch.setattr(workers, "default_workers", lambda: 3)
    result = CliRunner().invoke(serve_module.serve, ["--max-in-flight", "10"])
    assert result.exit_code == 0, result.output
    assert pools == [(3, ["workers: --max-in-flight 10: split across 3 workers (4/3 per worker)"])]
    monkeypatch.setenv("SARVANOM_GATEWAY_WORKERS", "1")
    result = CliRunner().invoke(serve_module.serve, [])
    assert result.exit_code == 0 and singles == [8000] and len(pools) == 1
    result = CliRunner().invoke(serve_module.serve, ["--workers", "4", "--max-in-flight", "2"])
    assert result.exit_code == 1
    assert "--max-in-flight: 2 is less than --workers 4" in result.output


def test_issue18_3_workers_stop_when_the_supervisor_is_killed(serve_workers) -> None:
    """SIGKILL to the supervisor (nothing forwarded): the orphaned workers notice within
    a second or so and drain; none keeps serving the port."""
    served = serve_workers("--workers", "2")
    workers = served.workers()
    assert len(workers) == 2
    served.process.kill()
    served.process.wait(timeout=30)
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "orphaned workers kept running"
        time.sleep(0.1)


def test_issue18_3_the_cost_budget_holds_across_workers(serve_workers, emulator) -> None:
    """SARVANOM_BUDGET_USD without Redis on 2 workers: each worker's cost gate has half,
    so the paid answers of the whole gateway stay within the budget (plus the gate's own
    bound: one request's cost above its estimate per ledger) — never twice the budget."""
    from sarvanom_sdk import SarvanClient

    key, url = "sk-workers-budget-test", emulator.url_for("openai")
    probe = SarvanClient(Settings(enable_paid_api=True, openai_api_key=key, openai_base_url=url,
                                  providers=(ProviderName.OPENAI,), cache_ttl_seconds=0))
    try:
        cost = probe.complete("hi", max_tokens=16).cost_usd
    finally:
        probe.close()
    assert cost > 0
    from sarvanom_sdk import LLMRequest
    from sarvanom_sdk.layers.cost import estimate_usd

    estimate = estimate_usd("gpt-4o-mini", LLMRequest(prompt="hi", max_tokens=16))
    # each worker's half admits 4 answers (a call needs its estimate left); a gate with the
    # whole budget on each worker would admit 10 per worker: 20 answers, spent > budget
    budget = 2 * (3 * cost + estimate)
    served = serve_workers(
        "--workers", "2",
        env={"ENABLE_PAID_API": "true", "OPENAI_API_KEY": key, "OPENAI_BASE_URL": url,
             "SARVANOM_PROVIDERS": "openai", "SARVANOM_CACHE_TTL_SECONDS": "0",
             "SARVANOM_BUDGET_USD": repr(budget)},
    )
    assert any("SARVANOM_BUDGET_USD" in line and "split across 2 workers" in line
               for line in served.lines)
    replies = [call(served.port, "POST", "/api/query", {"prompt": "hi", "max_tokens": 16})
               for _ in range(40)]
    answers = [json.loads(body) for status, _, body in replies if status == 200]
    assert len(answers) == 40
    paid = [a for a in answers if a["provider"] == "openai"]
    per_worker: dict[str, int] = {}
    for (_, headers, _), answer in zip(replies, answers, strict=True):
        if answer["provider"] == "openai":
            per_worker[headers[WORKER_HEADER]] = per_worker.get(headers[WORKER_HEADER], 0) + 1
    assert len(per_worker) == 2  # both workers spent...
    spent = sum(a["cost_usd"] for a in paid)
    assert spent <= budget + cost  # ...within the budget, not up to twice it
    assert len(paid) < 40  # the rest were refused by the gates (the stub answered)


def test_issue18_3_d3_a_port_in_use_is_one_line_with_workers_too(monkeypatch, tmp_path) -> None:
    """The parent binds before forking: a port in use is the single process's one-line
    error (D3), no banner, no worker started."""
    import socket

    from click.testing import CliRunner
    from sarvanom_cli.serve import serve

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(serve, ["--port", str(port), "--workers", "2"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "address already in use" in lines[0]


def test_issue18_3_a_port_another_gateway_shares_is_refused_not_joined(tmp_path) -> None:
    """SO_REUSEPORT lets any process of the same user join a port: a second gateway
    started on the port of a running one must fail to bind, not split its traffic."""
    import socket

    environment = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    with socket.socket() as other:  # what a running `sarvanom serve --workers 2` holds
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sarvanom_cli.main", "serve", "--port", str(port),
             "--workers", "2"],
            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1, result.stderr
    assert "address already in use" in result.stderr
    assert "sarvanom gateway on" not in result.stderr
