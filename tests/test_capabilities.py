"""Plugins found by what they declare: the PII detector behind ``datagen audit`` and ``PrivacyManager``."""

from __future__ import annotations

import pytest

from datagen._datamodel.config import load_config
from datagen._kernel.capabilities import pii_detector, pii_detector_for_audit
from datagen.errors import UsageError


def test_the_pii_detector_is_the_privacy_plugin_that_declares_it(datagen_plugins) -> None:
    name, cls = pii_detector(datagen_plugins, load_config(data={}, environ={}))
    assert name == "pii" and cls.detects_pii
    audit = pii_detector_for_audit(datagen_plugins, load_config(data={}, environ={}))
    assert audit.config.ner == "none"  # the declared fast pass
    assert [e.type for e in audit.find(["mail ann@example.com"])[0]] == ["EMAIL"]


def test_a_named_detector_must_declare_it(datagen_plugins) -> None:
    config = load_config(data={"privacy": {"detector": "aug_pe"}}, environ={})
    with pytest.raises(UsageError, match=r"\$\.privacy\.detector: 'aug_pe' is not a privacy plugin"):
        pii_detector(datagen_plugins, config)


def test_the_privacy_manager_scrubs_through_the_declared_detector() -> None:
    import datagen

    pm = datagen.PrivacyManager()
    assert pm.scrub_text("Mail ann@example.com") == "Mail [EMAIL]"
    assert [f["type"] for f in pm.find_pii("call 555-867-5309 now")] == ["PHONE"]


def test_a_method_declares_the_seeds_a_run_uses_when_it_names_none(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datagen._kernel.capabilities import default_seeds
    from datagen._kernel.manager import load_plugins
    from datagen.errors import UsageError

    pm = load_plugins()
    assert default_seeds(pm, "evol_instruct").name == "self_instruct_seed_tasks.jsonl"
    with pytest.raises(UsageError, match="method 'aug_pe' has no default seeds: pass --seeds"):
        default_seeds(pm, "aug_pe")  # it works on a private file, not on seeds
    result = cli("generate", "--backend", "echo", "-n", "2", "-o", str(tmp_path / "o.jsonl"))
    assert result.code == 0, result.err  # respond over the seeds it declares
