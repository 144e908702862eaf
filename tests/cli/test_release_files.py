"""Issue 17 item 5, release hygiene: LICENSE, CHANGELOG.md, the Dockerfile for
``sarvanom serve`` and docker-compose.yml.

Docker's engine does not run where these tests run, so the Dockerfile is linted for its
essentials (pinned slim Python base, the ``server`` extra, a non-root user, a health check
on ``/health``, no secret baked in, 0.0.0.0 only with the token from the environment, as
``sarvanom serve`` requires) and the compose file is parsed (PyYAML when it is installed,
else a small structural reading).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)


def instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's ``(INSTRUCTION, arguments)`` pairs, continuation lines joined and
    comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(ROOT / "Dockerfile")


def _arg_defaults(steps: list[tuple[str, str]]) -> dict[str, str]:
    return dict(a.split("=", 1) for k, a in steps if k == "ARG" and "=" in a)


def _stages(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for step in steps:
        if step[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(step)
    return stages


def test_license_is_mit_as_setup_cfg_says() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the sarvanom_sdk authors" in text
    assert "license = MIT" in (ROOT / "setup.cfg").read_text()


def test_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
    for heading in ("### Added", "### Changed", "### Fixed"):
        assert heading in text
    unreleased = text.split("## [Unreleased]", 1)[1]
    for issue in range(2, 10):  # the first session's issues, each summarised
        assert f"(issue {issue})" in unreleased, issue


def test_dockerfile_base_is_a_pinned_slim_python(dockerfile: list[tuple[str, str]]) -> None:
    defaults = _arg_defaults(dockerfile)
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], a.split()[0])
             for k, a in dockerfile if k == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", base), base  # never :latest


def test_dockerfile_installs_the_package_with_the_server_extra(
    dockerfile: list[tuple[str, str]]
) -> None:
    defaults = _arg_defaults(dockerfile)
    runs = " ".join(a for k, a in dockerfile if k == "RUN")
    runs = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], runs)
    assert re.search(r"sarvanom-sdk\[[^\]]*\bserver\b", runs), runs
    assert re.search(r'pip wheel [^&]*"\.\[[^\]]*\bserver\b', runs), runs


def test_dockerfile_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    final = _stages(dockerfile)[-1]
    users = [a for k, a in final if k == "USER"]
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    index = final.index(("USER", users[-1]))
    assert not [k for k, _ in final[index:] if k == "RUN"], "RUN after USER would run as it"


def test_dockerfile_health_check_calls_health_without_a_proxy(
    dockerfile: list[tuple[str, str]]
) -> None:
    checks = [a for k, a in dockerfile if k == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "http://127.0.0.1:8000/health" in checks[0]
    assert "ProxyHandler({})" in checks[0]
    assert "--interval=" in checks[0] and "--timeout=" in checks[0]


def test_dockerfile_bakes_in_no_secret(dockerfile: list[tuple[str, str]]) -> None:
    for keyword, args in dockerfile:
        if keyword in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]:
                assert not SECRET_NAME.search(name), f"{keyword} {args}"
        if keyword in ("COPY", "ADD"):
            assert ".env" not in args, args
    assert "SARVANOM_GATEWAY_TOKEN=" not in (ROOT / "Dockerfile").read_text()


def test_dockerfile_serves_every_interface_only_with_the_token_from_the_environment(
    dockerfile: list[tuple[str, str]]
) -> None:
    """The image binds 0.0.0.0 with no --token and no --insecure-no-token, so it relies on
    ``sarvanom serve``'s own rule: started without SARVANOM_GATEWAY_TOKEN it refuses."""
    from sarvanom_cli.serve import check_bind

    entry = json.loads(dict(dockerfile)["ENTRYPOINT"])
    cmd = json.loads(dict(dockerfile)["CMD"])
    argv = entry + cmd
    assert argv[:2] == ["sarvanom", "serve"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert "--insecure-no-token" not in argv and "--token" not in argv
    assert ("EXPOSE", argv[argv.index("--port") + 1]) in dockerfile
    with pytest.raises(click.ClickException, match="SARVANOM_GATEWAY_TOKEN"):
        check_bind("0.0.0.0", None, False)
    check_bind("0.0.0.0", "a-token-from-the-environment", False)


def test_dockerignore_keeps_secrets_and_clutter_out_of_the_context() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "exclude everything, then allow what the build needs"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "setup.cfg", "README.md", "LICENSE", "sarvanom_sdk",
                       "cli"}
    assert "**/.env" in lines
    for keyword, args in instructions(ROOT / "Dockerfile"):
        if keyword == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                first = source.split("/")[0]
                assert first in allowed, f"COPY {source}: .dockerignore leaves it out"


# -- docker-compose.yml ---------------------------------------------------------------
def _compose_structure(text: str) -> dict[str, Any]:
    """A small reading of the compose file when PyYAML is absent: each service's keys and
    the ``key: value`` lines under them (enough for the checks below)."""
    services: dict[str, Any] = {}
    service = key = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        if indent == 0:
            assert line == "services:", f"unexpected top-level line {line!r}"
        elif indent == 2:
            service = line.rstrip(":")
            services[service] = {}
        elif indent == 4 and service is not None:
            key, _, value = line.partition(":")
            services[service][key] = value.strip() or {}
        elif indent >= 6 and service is not None and key is not None:
            bucket = services[service][key]
            if line.startswith("- "):
                services[service][key] = ([] if isinstance(bucket, dict) else bucket) + [
                    line[2:].strip().strip('"')]
            else:
                name, _, value = line.partition(":")
                if isinstance(bucket, dict):
                    bucket[name] = value.strip() or None
    return {"services": services}


def compose() -> dict[str, Any]:
    text = (ROOT / "docker-compose.yml").read_text()
    try:
        import yaml
    except ImportError:
        return _compose_structure(text)
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@pytest.mark.parametrize("reader", ["yaml if installed", "without yaml"])
def test_compose_runs_the_gateway_with_redis(reader: str, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    if reader == "without yaml":
        monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    services = compose()["services"]
    assert set(services) == {"gateway", "redis"}
    gateway, redis = services["gateway"], services["redis"]
    assert gateway["build"] == "."
    assert str(redis["image"]).startswith("redis:7")
    assert "healthcheck" in redis and "ports" not in redis  # Redis stays on the network
    assert "redis" in gateway["depends_on"]
    env = gateway["environment"]
    assert env["SARVANOM_REDIS_URL"] == "redis://redis:6379/0"
    assert str(env["SARVANOM_GATEWAY_TOKEN"]).startswith("${SARVANOM_GATEWAY_TOKEN:?")
    for name, value in env.items():  # secrets come from the shell, never from the file
        if SECRET_NAME.search(name):
            assert value is None or str(value).startswith("${"), name
    assert all(str(port).startswith("127.0.0.1:") for port in gateway["ports"])


def test_the_fallback_reader_agrees_with_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "docker-compose.yml").read_text()
    loaded = yaml.safe_load(text)["services"]
    mine = _compose_structure(text)["services"]
    assert set(mine) == set(loaded)
    assert mine["gateway"]["environment"] == {
        k: (None if v is None else str(v)) for k, v in loaded["gateway"]["environment"].items()
    }
    assert mine["gateway"]["ports"] == loaded["gateway"]["ports"]


def test_readme_lists_exactly_the_metrics_the_gateway_exports() -> None:
    """The README's metric table names every series family /metrics exports, and no other
    (a metric added to the gateway must be added there)."""
    prometheus = pytest.importorskip("prometheus_client")
    from sarvanom_sdk.gateway.metrics import GatewayMetrics

    metrics = GatewayMetrics(prometheus, ["ollama_local"])
    exported = set()
    for family in metrics.registry.collect():
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Metric names", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^\| `(sarvanom_\w+)` \|", section, re.MULTILINE))
    assert listed == exported
