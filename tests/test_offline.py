"""Provably offline: in a fresh interpreter whose sockets refuse every address but the loopback (name
lookups too), importing datagen, listing the plugins, a run against the loopback server, a run through
the LiteLLM backend (whose price-map fetch would be caught) and a generation on the embedded model make
0 attempts to reach anything else."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datagen.testing_server import LoopbackServer

#: runs in the child: every socket connection and name lookup outside the loopback is refused and
#: written down; then the commands given as JSON argv lists run through datagen's entry point
GUARD = r"""
import ipaddress, json, socket, sys

attempts = []
LOCAL = {"localhost", "ip6-localhost"}


def _local(host):
    if host is None or host in LOCAL:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(host, what):
    if not _local(host):
        attempts.append(f"{what} {host}")
        raise OSError(f"offline test: {what} to {host} refused")


_getaddrinfo, _connect, _connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex


def getaddrinfo(host, *args, **kwargs):
    _check(host if isinstance(host, str) else None, "lookup")
    return _getaddrinfo(host, *args, **kwargs)


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address[0], "connect")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address[0], "connect")
    return _connect_ex(self, address)


socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = getaddrinfo, connect, connect_ex

from datagen._app.entry import main

codes = []
for argv in json.loads(sys.argv[1]):
    if argv[0] == "!import":  # a module imported as a user's script would
        __import__(argv[1])
        codes.append(0)
        continue
    try:
        main(argv)
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code if isinstance(exc.code, int) else 1)
print(json.dumps({"attempts": attempts, "codes": codes}))
"""


def offline(commands: list[list[str]], cwd: Path, **env: str) -> dict[str, list]:
    """Run ``commands`` in one guarded interpreter; what it tried to reach and each exit code."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("LITELLM_", "HTTP_PROXY", "HTTPS_PROXY"))
    }
    done = subprocess.run(
        [sys.executable, "-c", GUARD, json.dumps(commands)],
        cwd=cwd, env={**environ, **env}, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_plugins_and_runs_against_the_loopback_reach_nothing_else(tmp_path: Path) -> None:
    seeds = tmp_path / "s.jsonl"
    seeds.write_text("".join(json.dumps({"instruction": f"Task {i}."}) + "\n" for i in range(3)))
    with LoopbackServer() as srv:
        commands = [
            ["plugins"],
            ["generate", "--backend", "openai", "--base-url", f"{srv.url}/v1", "--seeds", str(seeds),
             "-n", "3", "-o", "a.jsonl", "--no-cache"],
        ]  # fmt: skip
        if importlib.util.find_spec("litellm") is not None:
            commands.append(
                ["generate", "--backend", "litellm", "--set", "backend.litellm.model=openai/gpt-4o-mini",
                 "--set", f"backend.litellm.api_base={srv.url}/v1", "--set", "backend.litellm.api_key=sk-x",
                 "--seeds", str(seeds), "-n", "3", "-o", "b.jsonl", "--no-cache"]
            )  # fmt: skip
        found = offline(commands, tmp_path, OPENAI_API_KEY="sk-offline-test-key")
    assert found["codes"] == [0] * len(commands)
    assert found["attempts"] == []
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 3


def test_the_guard_catches_what_would_leave_the_machine(tmp_path: Path) -> None:
    """The same guard sees a request to a real provider (the run fails, as it would offline) and
    LiteLLM's price-map fetch when it is told to fetch it: the test above finds 0 because there were 0."""
    seeds = tmp_path / "s.jsonl"
    seeds.write_text(json.dumps({"instruction": "Task."}) + "\n")
    commands = [
        ["generate", "--backend", "openai", "--seeds", str(seeds), "-n", "1", "-o", "c.jsonl", "--no-cache"]
    ]
    found = offline(commands, tmp_path, OPENAI_API_KEY="sk-offline-test-key", DATAGEN_ENGINE__MAX_RETRIES="0")
    assert found["codes"] != [0] and any("api.openai.com" in a for a in found["attempts"])
    if importlib.util.find_spec("litellm") is not None:  # LiteLLM on its own fetches its price map
        fetch = offline([["!import", "litellm"]], tmp_path)
        assert any("raw.githubusercontent.com" in a for a in fetch["attempts"]), fetch


@pytest.mark.slow
def test_a_generation_on_the_embedded_model_reaches_nothing(tmp_path: Path) -> None:
    found = offline([["generate", "-n", "2", "-o", "e.jsonl", "--no-cache"]], tmp_path)
    assert found == {"attempts": [], "codes": [0]}
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 2
