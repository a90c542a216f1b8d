"""The Python API: ``Generator`` dispatches to whichever method plugin is registered under a name."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from datagen.config import DatagenConfig, load_config, structure
from datagen.plugins import PluginManager, load_plugins
from datagen.records import Record
from datagen.results import Results
from datagen.runner import execute, prepare, run_sync
from datagen.seeds import to_seeds

SeedInput = Iterable[Record | Mapping[str, Any] | str] | str | os.PathLike[str]


class Generator:
    """Generate datasets with the configured backend and any registered generation method.

    ``config`` is a :class:`DatagenConfig`, a plain mapping in the config file's shape, or a path to a
    TOML/YAML file. ``plugins`` defaults to a fresh manager with every ``datagen`` entry point loaded.
    """

    def __init__(
        self,
        config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        plugins: PluginManager | None = None,
    ) -> None:
        if config is None:
            self.config = load_config()
        elif isinstance(config, DatagenConfig):
            self.config = config
        elif isinstance(config, Mapping):
            self.config = load_config(data=config)
        else:
            self.config = load_config(Path(config))
        if plugins is None:
            plugins = load_plugins(
                disable=self.config.plugins.disable or None, strict=self.config.plugins.strict
            )
        self.plugins = plugins

    def run(
        self,
        method: str,
        seeds: SeedInput,
        count: int,
        *,
        out: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Results:
        """Run ``method`` on ``seeds`` for ``count`` records; ``options`` override the method's config.

        With ``out`` the records stream to that file (``.jsonl``/``.parquet``), which backs the results.
        """
        config = self.config
        if options:
            section = dict(config.method.options.get(method, {}))
            section.update(options)
            config = structure(
                {**_raw(config), "method": {**_raw(config)["method"], method: section}}, DatagenConfig
            )
        prepared = prepare(
            config,
            self.plugins,
            to_seeds(seeds),
            count=count,
            method=method,
            out=Path(out) if out is not None else None,
        )
        results: Results = run_sync(execute(prepared, self.plugins))
        return results

    def generate_from_seed(
        self, seed_examples: SeedInput, count: int, method: str = "self_instruct", **options: Any
    ) -> Results:
        """Generate ``count`` records from ``seed_examples`` with the method registered as ``method``."""
        return self.run(method, seed_examples, count, **options)


def _raw(config: DatagenConfig) -> dict[str, Any]:
    from datagen.config import converter

    data: dict[str, Any] = converter.unstructure(config)
    return data
