"""What the pipeline-file commands (validate, plan, preview, run) share: the model overrides and the
Pipeline on the host's config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from datagen._kernel.commands import Host


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--backend``, ``--model`` and ``--base-url``: every model of the file on them."""
    for option in reversed(
        (
            click.option("--backend", help="Run every model of the file on this backend."),
            click.option("--model", help="Run every model of the file as this model."),
            click.option(
                "--base-url", help="An OpenAI-compatible server for every model (sets --backend openai)."
            ),
        )
    ):
        func = option(func)
    return func


def pipeline(host: Host, file: Path, opts: dict[str, Any], config: Any = None) -> Any:
    """The file's Pipeline on the host's config (or ``config``) and plugins, the overrides applied."""
    from datagen._app.pipefile.api import Pipeline

    return Pipeline.from_file(
        file,
        config=host.config if config is None else config,
        backend=opts.get("backend"),
        model=opts.get("model"),
        base_url=opts.get("base_url"),
    )
