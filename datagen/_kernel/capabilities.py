"""Plugins found by what they declare they can do, not by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from datagen._datamodel.config import DatagenConfig
from datagen._kernel.manager import PluginManager
from datagen.errors import UsageError


def declaring(pm: PluginManager, family: str, attribute: str, value: Any = True) -> list[str]:
    """The members of ``family`` whose class declares ``attribute`` equal to ``value``, sorted by name."""
    registry = pm.registry(family)
    return sorted(e.name for e in registry if getattr(e.obj, attribute, None) == value)


def first_declaring(pm: PluginManager, family: str, attribute: str, value: Any, missing: str) -> str:
    """The first by name of :func:`declaring`; a :class:`UsageError` saying ``missing`` when none does."""
    found = declaring(pm, family, attribute, value)
    if not found:
        raise UsageError(missing)
    return found[0]


def pii_detector(pm: PluginManager, config: DatagenConfig) -> tuple[str, Any]:
    """The name and class of the privacy plugin that finds personal data (``detects_pii = True``):
    ``[privacy] detector`` when set, else the only one, or the first by name when several are installed."""
    registry = pm.registry("privacy")
    able = declaring(pm, "privacy", "detects_pii")
    wanted = config.privacy.detector
    if wanted:
        if wanted not in able:
            raise UsageError(
                f"$.privacy.detector: {wanted!r} is not a privacy plugin that detects personal data "
                f"(those that do: {', '.join(able) or 'none installed'})"
            )
        return wanted, registry.get(wanted)
    if not able:
        raise UsageError("no installed privacy plugin detects personal data (detects_pii)")
    return able[0], registry.get(able[0])


def pii_detector_for_audit(pm: PluginManager, config: DatagenConfig) -> Any:
    """The PII detector, built for counting personal data over a whole dataset: its configured options
    with the ones its class declares for that (``audit_options``, e.g. the rules without a model)."""
    name, cls = pii_detector(pm, config)
    options = config.plugin_config("privacy", name, cls.Config)
    overrides = dict(getattr(cls, "audit_options", {}))
    if overrides and attrs.has(type(options)):
        options = attrs.evolve(options, **overrides)
    return cls(options)


def default_member(pm: PluginManager, family: str, configured: str = "") -> str:
    """``configured`` when set, else the member of ``family`` whose class declares ``default = True``
    (the first by name when several do): the method a run uses, the agent a tuning run asks."""
    if configured:
        return configured
    missing = f"no {family} named and no installed {family} plugin declares itself the default"
    return first_declaring(pm, family, "default", True, missing)


def default_seeds(pm: PluginManager, method: str) -> Path:
    """The seed file ``method`` declares it uses when a run names none (``default_seeds``); a method
    without one is a :class:`UsageError` asking for ``--seeds``."""
    path = getattr(pm.registry("method").get(method), "default_seeds", None)
    if path is None:
        raise UsageError(f"method {method!r} has no default seeds: pass --seeds FILE or set [generate] seeds")
    return Path(path)


def private_synthesizer(pm: PluginManager) -> str:
    """The name of the generation method that makes differentially private synthetic data from a private
    file (``private_synthesis = True``; the first by name when several are installed)."""
    missing = "no installed generation method makes private synthetic data (private_synthesis)"
    return first_declaring(pm, "method", "private_synthesis", True, missing)
