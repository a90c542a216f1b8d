"""The presidio plugin is discovered and scrubs through Presidio's analyzer."""

from __future__ import annotations

import datagen
from datagen._datamodel.results import Results


def test_presidio_is_a_privacy_plugin_that_scrubs(datagen_plugins) -> None:
    assert "presidio" in datagen_plugins.registry("privacy").names()
    records = [
        datagen.Record(id="a", output="Write to jane.doe@example.com or call 212-555-0199."),
        datagen.Record(id="b", output="Nothing personal here."),
    ]
    config = {"privacy": {"presidio": {"strategy": "pseudonym"}}}
    kept = Results(records).apply(("privacy", "presidio"), config=config, plugins=datagen_plugins)
    assert "jane.doe@example.com" not in kept[0].output and "<EMAIL_1>" in kept[0].output
    assert kept[1].output == "Nothing personal here."
    assert kept.report.stages[0]["details"]["found"]["EMAIL"] == 1
