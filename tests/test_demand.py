"""The demand a method asks: a read-only view of how many records the run still wants."""

from __future__ import annotations

import pytest

from datagen._datamodel.config import load_config
from datagen._datamodel.run import Demand, Run
from datagen._kernel.context import GenerationContext
from datagen._kernel.manager import PluginManager


def run_of(count: int, limit: int) -> Run:
    run = Run(config=load_config(environ={}), method="m", backend="b", model=None, count=count)
    run.limit = limit
    return run


def test_the_demand_follows_the_run_and_cannot_change_it() -> None:
    run = run_of(10, 40)
    demand = GenerationContext(run=run, plugins=PluginManager()).demand
    assert (demand.requested, demand.limit, demand.produced, demand.written) == (10, 40, 0, 0)
    assert demand.still_wanted() == 10 and demand.remaining(0, 40) == 10
    run.stats.generated, run.stats.records, run.stats.removed = 8, 4, 4  # half survived the stages
    assert demand.still_wanted() == 6 and demand.remaining(8, 40) == 12  # 6 more at a 50 % survival
    run.stats.records = 10
    assert demand.still_wanted() == 0 and demand.remaining(14, 40) == 1  # never zero while any is left
    assert demand.remaining(40, 40) == 0
    for name in ("requested", "limit", "produced", "written"):
        with pytest.raises(AttributeError):
            setattr(demand, name, 0)
    with pytest.raises(AttributeError):
        demand.extra = 1  # type: ignore[attr-defined]


def test_records_held_by_a_batching_stage_count_as_surviving() -> None:
    run = run_of(10, 40)
    run.stats.generated, run.stats.records, run.stats.removed = 12, 2, 2  # 8 still inside a stage
    assert Demand(run).remaining(12, 40) == 8  # wanted 8, minus 8 pending at 50 %, over 50 %
