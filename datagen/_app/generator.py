"""The Python API: ``Generator`` dispatches to whichever method plugin is registered under a name."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen._app.runner import execute, prepare, run_sync
from datagen._datamodel.config import DatagenConfig, as_config, structure
from datagen._datamodel.records import Record
from datagen._datamodel.results import Results
from datagen._datamodel.seeds import to_seeds
from datagen._kernel.manager import PluginManager, load_plugins, load_plugins_for

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
        self.config = as_config(config)
        if plugins is None:
            plugins = load_plugins_for(self.config)
        self.plugins = plugins

    def run(
        self,
        method: str,
        seeds: SeedInput,
        count: int,
        *,
        out: str | os.PathLike[str] | None = None,
        overwrite: bool | None = None,
        **options: Any,
    ) -> Results:
        """Run ``method`` on ``seeds`` for ``count`` records; ``options`` override the method's config.

        With ``out`` the records stream to that file (``.jsonl``/``.parquet``), which backs the results;
        an existing file is refused unless ``overwrite`` (or ``[generate] overwrite``).
        """
        config = self.config
        if overwrite is not None:
            config = attrs.evolve(config, generate=attrs.evolve(config.generate, overwrite=overwrite))
        if options:
            raw = _raw(config)
            raw["method"][method] = {**config.method.options.get(method, {}), **options}
            config = structure(raw, DatagenConfig)
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
        self,
        seed_examples: SeedInput | None = None,
        count: int = 10,
        method: str | None = None,
        **options: Any,
    ) -> Results:
        """Generate ``count`` records from ``seed_examples`` (default: the method's own default seeds, the
        175 Self-Instruct seed tasks, :data:`datagen.SEED_TASKS`) with the method registered as ``method``
        (default: the one that declares this function, Self-Instruct)."""
        from datagen._kernel.capabilities import default_seeds

        method = method or self._method_for("generate_from_seed")
        seeds = default_seeds(self.plugins, method) if seed_examples is None else seed_examples
        return self.run(method, seeds, count, **options)

    def _method_for(self, function: str) -> str:
        """The method plugin that declares it runs the seed's ``Generator.function`` (``seed_function``):
        the shortcuts below are recipes over whichever method declares them."""
        from datagen._kernel.capabilities import first_declaring

        missing = f"Generator.{function}: no installed method runs it (seed_function = {function!r})"
        return first_declaring(self.plugins, "method", "seed_function", function, missing)

    def evolve_instructions(
        self, instructions: SeedInput, rounds: int = 1, *, include_seeds: bool = False, **options: Any
    ) -> Results:
        """Evol-Instruct: evolve each instruction ``rounds`` times. An eliminated evolution is retried
        with another operation (``max_attempts``); ``include_seeds`` adds the originals to the output.
        ``results.report`` says what was eliminated and why."""
        seeds = to_seeds(instructions)
        count = max(1, len(seeds) * (rounds + int(include_seeds)))
        return self.run(
            self._method_for("evolve_instructions"),
            seeds,
            count,
            rounds=rounds,
            include_seeds=include_seeds,
            **options,
        )

    def generate_from_template(
        self,
        template: str,
        variables: Mapping[str, Iterable[Any] | Callable[[], Iterable[Any]]],
        count: int,
        *,
        complete: bool = False,
        **options: Any,
    ) -> Results:
        """Fill ``template`` with ``count`` distinct combinations of ``variables`` (lists, iterables or
        generator functions); with ``complete`` the backend answers each filled template."""
        values = {k: list(v() if callable(v) else v) for k, v in variables.items()}
        return self.run(
            self._method_for("generate_from_template"),
            [],
            count,
            template=template,
            variables=values,
            complete=complete,
            **options,
        )

    def generate_with_constraints(
        self,
        instructions: SeedInput,
        constraints: Mapping[str, Any],
        examples_per_instruction: int = 1,
        **options: Any,
    ) -> Results:
        """Answers under ``constraints`` (domain, keywords, style, tone, complexity, length), verified."""
        seeds = to_seeds(instructions)
        return self.run(
            self._method_for("generate_with_constraints"),
            seeds,
            max(1, len(seeds) * examples_per_instruction),
            constraints=dict(constraints),
            examples_per_instruction=examples_per_instruction,
            **options,
        )

    def augment_by_paraphrasing(
        self,
        examples: SeedInput,
        variations_per_example: int = 2,
        fields_to_paraphrase: Sequence[str] | None = None,
        **options: Any,
    ) -> Results:
        """Paraphrases of each example's fields (default: the instruction); copies are rejected."""
        seeds = to_seeds(examples)
        if fields_to_paraphrase is not None:
            options["fields_to_paraphrase"] = list(fields_to_paraphrase)
        return self.run(
            self._method_for("augment_by_paraphrasing"),
            seeds,
            max(1, len(seeds) * variations_per_example),
            variations_per_example=variations_per_example,
            **options,
        )

    def augment_with_style_variation(
        self, examples: SeedInput, styles: Sequence[str], examples_per_style: int = 1, **options: Any
    ) -> Results:
        """Each example's output rewritten in each style."""
        seeds = to_seeds(examples)
        return self.run(
            self._method_for("augment_with_style_variation"),
            seeds,
            max(1, len(seeds) * len(styles) * examples_per_style),
            styles=list(styles),
            examples_per_style=examples_per_style,
            **options,
        )

    def augment_with_domain_transfer(
        self, examples: SeedInput, target_domains: Sequence[str], examples_per_domain: int = 1, **options: Any
    ) -> Results:
        """Each example's task moved into each target domain and answered afresh."""
        seeds = to_seeds(examples)
        return self.run(
            self._method_for("augment_with_domain_transfer"),
            seeds,
            max(1, len(seeds) * len(target_domains) * examples_per_domain),
            target_domains=list(target_domains),
            examples_per_domain=examples_per_domain,
            **options,
        )

    def generate_conversations(self, seeds: SeedInput, count: int, turns: int = 3, **options: Any) -> Results:
        """Multi-turn dialogues opened by each seed's instruction (or about it, with ``seed_is_topic``)."""
        return self.run(self._method_for("generate_conversations"), seeds, count, turns=turns, **options)

    def generate_pretraining(
        self, topics: Sequence[str], count: int, target_words: int = 300, **options: Any
    ) -> Results:
        """Pretraining-style documents on ``topics``."""
        return self.run(
            self._method_for("generate_pretraining"),
            [],
            count,
            topics=list(topics),
            target_words=target_words,
            **options,
        )

    def generate_domain_data(
        self, count: int, preset: str | None = "code", seeds: SeedInput = (), **options: Any
    ) -> Results:
        """Instruction data for a domain preset (legal, medical, finance, code) or a described domain."""
        return self.run(self._method_for("generate_domain_data"), seeds, count, preset=preset, **options)


def _raw(config: DatagenConfig) -> dict[str, Any]:
    from datagen._datamodel.config import converter

    data: dict[str, Any] = converter.unstructure(config)
    return data


def seed_tasks() -> Path:
    """The 175 Self-Instruct seed tasks shipped with datagen: the seeds the default method declares it
    uses when a run names none (``datagen.SEED_TASKS``)."""
    from datagen._kernel.capabilities import default_member, default_seeds

    pm = load_plugins()
    return default_seeds(pm, default_member(pm, "method"))


def __getattr__(name: str) -> Any:
    if name == "SEED_TASKS":  # the seed's name, found through the plugins when first asked for
        return seed_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
