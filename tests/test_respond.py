"""The respond method and the Generator facade, through the plugin system."""

from __future__ import annotations

import asyncio

import pytest

from datagen import Generator, UnknownNameError, UsageError, load_config
from datagen._engine.concurrency import bounded_map
from datagen.testing import check_method_rejects_bad_input, run_method


def test_respond_cycles_through_seeds_with_distinct_sampling_seeds(datagen_plugins) -> None:
    results = run_method(datagen_plugins, "respond", ["Say A.", "Say B."], 5)
    by_seed = sorted(
        (r.instruction, r.metadata.get("cycle", 0), r.provenance.params.get("seed")) for r in results
    )
    assert by_seed == [
        ("Say A.", 0, None),
        ("Say A.", 1, 1),
        ("Say A.", 2, 2),
        ("Say B.", 0, None),
        ("Say B.", 1, 1),
    ]
    assert len({r.id for r in results}) == 5


def test_respond_uses_completion_prompts_for_base_models(datagen_plugins) -> None:
    seeds = [{"instruction": "Add the numbers.", "input": "2 3", "output": "5"}, {"instruction": "Say hi."}]
    results = run_method(
        datagen_plugins, "respond", seeds, 2, config={"backend": {"name": "echo", "echo": {"chat": False}}}
    )
    # echo answers with the prompt's last line: the Alpaca-style response header
    assert {r.output for r in results} == {"echo: ### Response:"}
    assert all(r.provenance.params["stop"] == ["### Instruction", "\n### "] for r in results)


def test_truncation_is_recorded_not_hidden(datagen_plugins) -> None:
    results = run_method(
        datagen_plugins, "respond", ["one two three four five"], 1, options={"max_tokens": 2}
    )
    assert results[0].provenance.finish_reason == "length" and results[0].output == "echo: one"


def test_respond_rejects_bad_input(datagen_plugins) -> None:
    check_method_rejects_bad_input(datagen_plugins, "respond")


def test_generator_accepts_config_paths_and_mappings(tmp_path, datagen_plugins) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[backend]\nname = "echo"\n')
    for config in (path, str(path), {"backend": {"name": "echo"}}, load_config(path, environ={})):
        gen = Generator(config, plugins=datagen_plugins)
        assert gen.generate_from_seed(["Hello?"], 1, method="respond")[0].output == "echo: Hello?"


def test_generator_default_method_is_self_instruct() -> None:
    """The seed's shortcut runs the method that declares it (self_instruct); without it, a clear error."""
    from datagen import load_plugins
    from datagen.errors import UsageError

    assert Generator({"backend": {"name": "echo"}})._method_for("generate_from_seed") == "self_instruct"
    pm = load_plugins(strict=True, disable=["self_instruct"])
    gen = Generator({"backend": {"name": "echo"}}, plugins=pm)
    with pytest.raises(UsageError, match=r"Generator.generate_from_seed: no installed method runs it"):
        gen.generate_from_seed(["Hello?"], 1)
    with pytest.raises(
        UnknownNameError, match=r"unknown method 'self_instruct'; registered methods: .*respond"
    ):
        gen.generate_from_seed(["Hello?"], 1, method="self_instruct")


def test_generator_streams_to_a_file(tmp_path, datagen_plugins) -> None:
    gen = Generator({"backend": {"name": "echo"}}, plugins=datagen_plugins)
    results = gen.run("respond", ["Q?"], 3, out=tmp_path / "r.parquet")
    assert results.path == tmp_path / "r.parquet" and len(results) == 3


def test_bad_method_options_fail_before_work(datagen_plugins) -> None:
    gen = Generator({"backend": {"name": "echo"}}, plugins=datagen_plugins)
    with pytest.raises(UsageError, match=r"\$.method.respond.few_shot: expected int"):
        gen.run("respond", ["Q?"], 1, few_shot="many")


def test_bounded_map_keeps_the_limit_and_yields_everything() -> None:
    running = peak = 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (i % 3))
        running -= 1
        return i

    async def main() -> list[int]:
        return [x async for x in bounded_map(work, range(50), 7)]

    assert sorted(asyncio.run(main())) == list(range(50)) and peak == 7


def test_bounded_map_cancels_the_rest_when_one_fails() -> None:
    cancelled = []

    async def work(i: int) -> int:
        if i == 0:
            raise ValueError("first")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    async def main() -> None:
        async for _ in bounded_map(work, range(5), 5):
            pass

    with pytest.raises(ValueError, match="first"):
        asyncio.run(main())
    assert sorted(cancelled) == [1, 2, 3, 4]


def test_stopping_at_count_cancels_what_is_still_in_flight(datagen_plugins) -> None:
    import attrs

    import datagen
    from datagen._datamodel.records import Record, Usage
    from datagen._engine.llm import Response
    from datagen.plugin import records_of

    started, finished, in_flight_at_close = [], [], []

    @attrs.define
    class NoOptions:
        pass

    class SlowBackend:
        name, Config, is_chat, model = "slow", NoOptions, True, "slow-1"

        def __init__(self, config):
            pass

        def validate(self):
            pass

        async def complete(self, request):
            text = request.messages[-1].content
            started.append(text)
            try:
                await asyncio.sleep(0.001 if text == "fast" else 2.0)
            finally:
                finished.append(text)
            return Response(text, "stop", Usage(1, 1, 0.0), self.model)

        async def aclose(self):
            in_flight_at_close.append(len(started) - len(finished))

    class Burst:
        """Asks everything at once, whatever the count."""

        name, Config = "burst", NoOptions

        def __init__(self, config):
            pass

        def validate(self, seeds, count):
            pass

        def generate(self, ctx, seeds, count):
            async def one(seed):
                response = await ctx.complete(
                    ctx.request(messages=[datagen.Message("user", seed.instruction)])
                )
                return Record(instruction=seed.instruction, output=response.text)

            return records_of(ctx, one, seeds, limit=len(seeds))

    class Plugin:
        @datagen.hookimpl
        def datagen_register_backends(self, register):
            """The slow backend."""
            register(SlowBackend)

        @datagen.hookimpl
        def datagen_register_methods(self, register):
            """The burst method."""
            register(Burst)

    datagen_plugins.register(Plugin(), name="slow-burst")
    gen = Generator({"backend": {"name": "slow"}, "cache": {"enabled": False}}, plugins=datagen_plugins)
    results = gen.run("burst", [f"slow {i}" for i in range(5)] + ["fast"], 1)
    assert [r.output for r in results] == ["fast"]
    assert len(started) == 6 and finished[0] == "fast"
    assert in_flight_at_close == [0]  # the five slow ones were cancelled before the backend closed
