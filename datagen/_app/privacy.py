"""The seed's ``PrivacyManager``: the privacy family's facade.

It holds a config whose ``[privacy] inputs`` and ``outputs`` name the mechanisms applied to the seeds
before any backend sees them and to the records before they are written (``Generator(pm.config)``
runs with them), applies them to existing data, scrubs single texts, generates differentially private
data from a private set (``aug_pe``) and audits synthetic data against its private source.

``config`` is the config file's shape (``{"privacy": {"inputs": [...], "pii": {...}}}``), a
:class:`~datagen._datamodel.config.DatagenConfig`, a path, or the seed's flat options:
``pii_scrubbing`` (default true), ``scrub_inputs`` / ``scrub_outputs`` (both true), ``strategy``
(``mask``, ``pseudonym``, ``fake``), ``types``, ``locale``, ``scope``, ``ner`` for the scrubber, and
``epsilon`` / ``delta`` for differentially private generation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen._app.pipeline import apply_stages
from datagen._datamodel.config import DatagenConfig, load_config
from datagen._datamodel.records import Record
from datagen._datamodel.results import Results, iter_records
from datagen._kernel.capabilities import pii_detector, pii_detector_for_audit
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen.errors import UsageError

PII_OPTIONS = ("strategy", "types", "locale", "scope", "ner", "ner_languages", "ner_threads", "fields")
FLAT_OPTIONS = {"pii_scrubbing", "scrub_inputs", "scrub_outputs", "epsilon", "delta", *PII_OPTIONS}


class PrivacyManager:
    """Privacy mechanisms of the ``privacy`` family, configured once and applied where data flows."""

    def __init__(
        self,
        config: Mapping[str, Any] | DatagenConfig | str | os.PathLike[str] | None = None,
        *,
        plugins: PluginManager | None = None,
    ) -> None:
        self.dp: dict[str, float] = {}
        self._plugins = plugins
        self.config = self._config(config)
        self.plugins = plugins or self._plugins or load_plugins_for(self.config)

    def _config(
        self, config: Mapping[str, Any] | DatagenConfig | str | os.PathLike[str] | None
    ) -> DatagenConfig:
        if config is None:
            return self._config({})
        if isinstance(config, DatagenConfig):
            return config
        if not isinstance(config, Mapping):
            return load_config(Path(config))
        flat = dict(config)
        if "privacy" in flat or not flat.keys() <= FLAT_OPTIONS:
            unknown = sorted(set(flat) - FLAT_OPTIONS - {"privacy"})
            if "privacy" not in flat and unknown:
                raise UsageError(f"PrivacyManager: unknown option(s) {', '.join(unknown)}")
            return load_config(data=flat)
        self.dp = {k: float(flat.pop(k)) for k in ("epsilon", "delta") if k in flat}
        scrub = bool(flat.pop("pii_scrubbing", True))
        inputs = bool(flat.pop("scrub_inputs", True))
        outputs = bool(flat.pop("scrub_outputs", True))
        # the seed's flat options go to the plugin that declares it detects personal data
        base = load_config()
        self._plugins = self._plugins or load_plugins_for(base)
        detector, _cls = pii_detector(self._plugins, base)
        section: dict[str, Any] = {
            "inputs": [detector] if scrub and inputs else [],
            "outputs": [detector] if scrub and outputs else [],
            detector: {k: flat.pop(k) for k in PII_OPTIONS if k in flat},
        }
        return load_config(data={"privacy": section})

    # ------------------------------------------------------------------------------------ texts

    def _scrubber(self) -> Any:
        name, cls = pii_detector(self.plugins, self.config)
        options = self.config.plugin_config("privacy", name, cls.Config)
        if attrs.has(type(options)) and "entities" in attrs.fields_dict(type(options)):
            options = attrs.evolve(options, entities=None)  # no side file for single texts
        return cls(options)

    def find_pii(self, text: str) -> list[dict[str, Any]]:
        """The personal data and secrets in ``text``: type, start, end, score and the text found."""
        return [
            {"type": e.type, "start": e.start, "end": e.end, "score": e.score, "text": e.value}
            for e in self._scrubber().find([text])[0]
        ]

    def scrub_text(self, text: str) -> str:
        """``text`` with its personal data replaced by the configured strategy."""
        scrubber = self._scrubber()
        return str(scrubber.scrub(text, scrubber.find([text])[0]))

    # ------------------------------------------------------------------------------------ datasets

    def protect_inputs(self, records: Results | Iterable[Record]) -> Results:
        """The ``[privacy] inputs`` mechanisms over seeds or any records (what a run does before any
        backend sees them), with the report attached."""
        return self._apply(records, self.config.privacy.inputs, "inputs")

    def protect_outputs(
        self,
        results: Results | Iterable[Record],
        *,
        out: str | os.PathLike[str] | None = None,
    ) -> Results:
        """The ``[privacy] outputs`` mechanisms over generated records, with the report attached
        (entities found by type, records changed, budget spent)."""
        return self._apply(results, self.config.privacy.outputs, "outputs", out=out)

    def _apply(
        self,
        records: Results | Iterable[Record],
        names: Sequence[str],
        where: str,
        out: str | os.PathLike[str] | None = None,
    ) -> Results:
        if not names:
            raise UsageError(f"PrivacyManager: no privacy mechanism configured for {where}")
        stages = [("privacy", name) for name in names]
        return apply_stages(records, stages, config=self.config, plugins=self.plugins, out=out)

    def generate(
        self,
        private: str | os.PathLike[str],
        count: int,
        *,
        out: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Results:
        """``count`` differentially private synthetic records from the ``private`` file (the method that
        declares ``private_synthesis``: ``aug_pe``), with this manager's ``epsilon`` / ``delta`` unless
        ``options`` give others."""
        from datagen._app.generator import Generator
        from datagen._kernel.capabilities import private_synthesizer

        settings = {**self.dp, **options, "private": str(private)}
        generator = Generator(self.config, plugins=self.plugins)
        method = private_synthesizer(self.plugins)
        return generator.run(
            method, [], count, out=out, overwrite=True if out is not None else None, **settings
        )

    def audit(
        self,
        private: str | os.PathLike[str] | Iterable[Record],
        synthetic: str | os.PathLike[str] | Iterable[Record],
        *,
        canaries: Sequence[Mapping[str, Any]] = (),
        embeddings: bool = False,
    ) -> dict[str, Any]:
        """The privacy audit (see :mod:`datagen._app.audit`): overlap, PII and canaries; with
        ``embeddings`` nearest neighbours too (the ``embeddings`` extra)."""
        from datagen._app.audit import audit
        from datagen._text.embeddings import Embedder

        def records(source: str | os.PathLike[str] | Iterable[Record]) -> Iterable[Record]:
            return iter_records(source) if isinstance(source, (str, os.PathLike)) else source

        detector = pii_detector_for_audit(self.plugins, self.config)
        return audit(
            records(private),
            records(synthetic),
            canaries=[dict(c) for c in canaries],
            pii=detector,
            embedder=Embedder() if embeddings else None,
        )
