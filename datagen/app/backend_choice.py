"""Which backend a run uses: the configured one, or for ``auto`` the first whose key is set, else the
embedded model."""

from __future__ import annotations

import os
from collections.abc import Mapping

from datagen.datamodel.config import DatagenConfig
from datagen.kernel.manager import PluginManager

#: environment variables whose presence makes ``backend = "auto"`` pick that backend, in order
AUTO_BACKENDS: tuple[tuple[str, str], ...] = (
    ("OPENAI_API_KEY", "openai"),
    ("ANTHROPIC_API_KEY", "anthropic"),
)
DEFAULT_BACKEND = "local"


def resolve_backend(
    config: DatagenConfig, pm: PluginManager, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The backend to use and why: the configured one, or for ``auto`` the first with a key, else
    ``local``."""
    name = config.backend.name
    if name != "auto":
        return name, "chosen by --backend / [backend] name"
    env = os.environ if environ is None else environ
    registry = pm.registry("backend")
    for var, backend in AUTO_BACKENDS:
        configured_key = config.backend.options.get(backend, {}).get("api_key")
        if (env.get(var) or configured_key) and backend in registry:
            source = f"{var} is set" if env.get(var) else f"[backend.{backend}] api_key is set"
            return backend, f"{source}; --backend local for the embedded model"
    return DEFAULT_BACKEND, "no API key set: the embedded offline model"


def resolve_backend_name(
    config: DatagenConfig, pm: PluginManager, environ: Mapping[str, str] | None = None
) -> str:
    """The backend to use (see :func:`resolve_backend`)."""
    return resolve_backend(config, pm, environ)[0]
