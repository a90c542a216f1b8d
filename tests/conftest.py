"""Shared fixtures: a clean environment, a scratch working folder, in-process CLI runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from datagen._app.cli import main
from datagen.log import configure_logging

SECRET_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No API keys or datagen settings leak in from the machine; each test works in its own folder."""
    for name in list(os.environ):
        if name in SECRET_ENV or (name.startswith("DATAGEN_") and name != "DATAGEN_STRICT_PLUGINS"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    configure_logging("warning")


@attrs.frozen
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``datagen ARGS`` in-process, returning exit code, stdout and stderr."""

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
