"""Which backend a run uses: the configured one, or for ``auto`` what the backend plugins declare: the
first (by ``auto_choice``) whose key is set (``env_key`` or its ``api_key`` option), else the one that runs
offline (``offline_default``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from datagen._datamodel.config import DatagenConfig, Price
from datagen._engine.pricing import PriceTable
from datagen._kernel.manager import PluginManager
from datagen._kernel.protocols import backend_class_attribute
from datagen.errors import UsageError


def resolve_backend(
    config: DatagenConfig, pm: PluginManager, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The backend to use and why."""
    name = config.backend.name
    if name != "auto":
        return name, "chosen by --backend / [backend] name"
    env = os.environ if environ is None else environ
    registry = pm.registry("backend")
    classes = {n: registry.get(n) for n in registry.names()}
    offline = sorted(n for n, cls in classes.items() if backend_class_attribute(cls, "offline_default"))
    ranked = sorted(
        (rank, n)
        for n, cls in classes.items()
        if (rank := backend_class_attribute(cls, "auto_choice")) is not None
    )
    hint = f"; --backend {offline[0]} for the embedded model" if offline else ""
    for _, backend in ranked:
        var = backend_class_attribute(classes[backend], "env_key")
        if var and env.get(var):
            return backend, f"{var} is set{hint}"
        if config.backend.options.get(backend, {}).get("api_key"):
            return backend, f"[backend.{backend}] api_key is set{hint}"
    if offline:
        return offline[0], "no API key set: the embedded offline model"
    keys = ", ".join(v for n in classes if (v := backend_class_attribute(classes[n], "env_key")))
    raise UsageError(
        f"$.backend.name: 'auto' found no API key ({keys or 'no backend declares one'}) and no backend that "
        "runs offline; set a key or name a backend with --backend"
    )


def run_prices(config: DatagenConfig, pm: PluginManager, backend: str) -> PriceTable:
    """The prices a run counts with: every installed backend's declared table (``prices``; a proxy's
    OpenAI-compatible endpoint may serve another vendor's models), the run's own backend's winning,
    then ``[prices]`` from the config over all."""
    registry = pm.registry("backend")
    table: dict[str, Price] = {}
    for name in [n for n in registry.names() if n != backend] + ([backend] if backend in registry else []):
        table.update(getattr(registry.get(name), "prices", {}) or {})
    return PriceTable({**table, **config.prices})


def resolve_backend_name(
    config: DatagenConfig, pm: PluginManager, environ: Mapping[str, str] | None = None
) -> str:
    """The backend to use (see :func:`resolve_backend`)."""
    return resolve_backend(config, pm, environ)[0]
