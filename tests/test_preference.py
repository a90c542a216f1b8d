"""The ``preference`` method: candidates rated by a scripted judge, failing closed, pairs chosen by score,
a position-biased pairwise judge giving ties, the bias figures in the report, TRL's DPO rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import datagen
from datagen import Generator, load_config
from datagen._engine.llm import Request
from datagen.testing import add_scripted_backend, check_method_rejects_bad_input, request_text

ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
INSTRUCTIONS = [
    "Explain why the sky is blue.",
    "Give three tips for sleeping well.",
    "What is a prime number?",
]


def answer_of(text: str, marker: str = "### Answer:") -> str:
    return text.split(marker)[1].split("###", maxsplit=1)[0].split("Reply with JSON", maxsplit=1)[0].strip()


def writer(request: Request) -> str:
    """Answers whose length grows with the temperature: 0.3 -> 2 words ... 1.2 -> 13 words."""
    words = 2 + round((request.temperature or 0) * 9)
    return " ".join(f"w{(request.seed or 0) % 97}x{i}" for i in range(words)) + "."


def rubric(score_of) -> callable:
    def respond(request: Request) -> str:
        text = request_text(request)
        if "Rate the answer" not in text:
            return writer(request)
        value = score_of(answer_of(text))
        if isinstance(value, str):  # a malformed rating, as given
            return value
        return json.dumps({a: {"rationale": "because", "score": value} for a in ASPECTS})

    return respond


def run(pm, respond, count: int, **options):
    add_scripted_backend(pm, respond)
    data = {"backend": {"name": "scripted"}, "cache": {"enabled": False}}
    gen = Generator(load_config(data=data, environ={}), plugins=pm)
    return gen.run("preference", INSTRUCTIONS, count, **options)


def test_the_best_rated_answer_is_chosen_against_the_worst(datagen_plugins) -> None:
    results = run(datagen_plugins, rubric(lambda answer: min(5, 1 + len(answer.split()) // 3)), 3)
    assert len(results) == 3
    for record in results:
        meta = record.metadata
        assert record.output == meta["chosen"] and meta["chosen"] != meta["rejected"]
        scores = [c["mean"] for c in meta["candidates"]]
        assert meta["chosen_score"] == max(scores) and meta["rejected_score"] == min(scores)
        assert len(meta["candidates"]) == 4
        assert all(set(c["ratings"]) == set(ASPECTS) for c in meta["candidates"])
        assert all(c["ratings"]["honesty"]["rationale"] == "because" for c in meta["candidates"])
    details = results.report.method_details
    assert details["pairs"] == 3 and details["tie_rate"] == 0.0
    assert details["length_bias"] == 1.0  # this judge likes long answers, and the report says so
    assert details["judge_model"] and details["ratings_unparsed_dropped"] == 0
    assert sum(details["score_distribution"]["helpfulness"].values()) == details["ratings"] == 12


@pytest.mark.parametrize(
    "bad",
    [
        "garbage, no JSON at all",
        "1",  # a bare number: UltraFeedback's "1" read as 10
        "10/10",
        json.dumps({a: {"rationale": "r", "score": 11} for a in ASPECTS}),  # out of the 1-5 range
        json.dumps({a: {"rationale": "r", "score": 0} for a in ASPECTS}),
        json.dumps({a: {"rationale": "r", "score": "5"} for a in ASPECTS}),  # a string
        json.dumps({a: {"score": 4} for a in ASPECTS}),  # no rationale
        json.dumps({"helpfulness": {"rationale": "r", "score": 4}}),  # aspects missing
    ],
)
def test_a_rating_that_does_not_parse_is_asked_again_then_dropped_never_guessed(datagen_plugins, bad) -> None:
    asked: list[str] = []

    def score_of(answer: str) -> int | str:
        if len(answer.split()) > 10:  # the longest answers always get a malformed rating
            asked.append(answer)
            return bad
        return 1 + len(answer.split()) // 4

    results = run(datagen_plugins, rubric(score_of), 3, judge_retries=1)
    details = results.report.method_details
    assert details["ratings_unparsed_dropped"] > 0
    assert results.report.method_rejections["judge_unparsed"] == details["ratings_unparsed_dropped"]
    assert len(asked) == 2 * details["ratings_unparsed_dropped"]  # asked once more, then dropped
    for record in results:
        assert all(len(c["text"].split()) <= 10 for c in record.metadata["candidates"])
        assert all(1 <= r["score"] <= 5 for c in record.metadata["candidates"] for r in c["ratings"].values())
    seen = {int(k) for dist in details["score_distribution"].values() for k in dist}
    assert seen <= {1, 2, 3, 4, 5}


def test_pairs_closer_than_the_margin_are_ties_and_dropped(datagen_plugins) -> None:
    results = run(datagen_plugins, rubric(lambda answer: 3), 2)
    assert len(results) == 0
    details = results.report.method_details
    assert details["tie_rate"] == 1.0 and details["pairs"] == 0
    assert results.report.method_rejections["preference_tie"] == details["ties_dropped"] > 0


def pairwise(prefers) -> callable:
    base = rubric(lambda answer: min(5, 1 + len(answer.split()) // 3))

    def respond(request: Request) -> str:
        text = request_text(request)
        if "### Answer A:" not in text:
            return base(request)
        a, b = answer_of(text, "### Answer A:"), answer_of(text, "### Answer B:")
        return json.dumps({"rationale": "r", "better": prefers(a, b)})

    return respond


def test_a_position_biased_pairwise_judge_gives_ties(datagen_plugins) -> None:
    results = run(datagen_plugins, pairwise(lambda a, b: "A"), 3, pairwise=True)
    assert len(results) == 0
    details = results.report.method_details
    assert details["pairwise_judged"] > 0 and details["position_flip_rate"] == 1.0
    assert details["tie_rate"] == 1.0


def test_a_consistent_pairwise_judge_confirms_the_pairs(datagen_plugins) -> None:
    longer = pairwise(lambda a, b: "A" if len(a) > len(b) else "B")
    results = run(datagen_plugins, longer, 3, pairwise=True)
    assert len(results) == 3
    details = results.report.method_details
    assert details["position_flip_rate"] == 0.0 and details["pairwise_judged"] == 3


def test_pairs_export_as_trl_dpo_rows(datagen_plugins, tmp_path: Path) -> None:
    results = run(datagen_plugins, rubric(lambda answer: min(5, 1 + len(answer.split()) // 3)), 2)
    out = tmp_path / "dpo.jsonl"
    results.export("trl_dpo", out, config={"exporter": {"trl_dpo": {"conversational": False}}})
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and all(set(row) == {"prompt", "chosen", "rejected"} for row in rows)
    assert {row["prompt"] for row in rows} <= set(INSTRUCTIONS)
    assert all(row["chosen"] != row["rejected"] for row in rows)


@pytest.mark.parametrize(("option", "key"), [({"margin": 9}, "margin"), ({"aspects": {}}, "aspects")])
def test_preference_refuses_bad_input_and_bad_options(datagen_plugins, option, key) -> None:
    check_method_rejects_bad_input(datagen_plugins, "preference")
    with pytest.raises(datagen.UsageError, match=f"preference.{key}"):
        run(datagen_plugins, writer, 1, **option)


def test_preference_is_a_pipeline_step(datagen_plugins, tmp_path: Path) -> None:
    """Rows of a file get their pairs from a method step; the chosen and rejected answers land in the rows."""
    from datagen import Pipeline

    add_scripted_backend(datagen_plugins, rubric(lambda answer: min(5, 1 + len(answer.split()) // 3)))
    (tmp_path / "q.csv").write_text("question\n" + "\n".join(INSTRUCTIONS[:2]) + "\n")
    data = {
        "sources": {"q": {"path": "q.csv", "columns": {"question": "instruction"}}},
        "steps": [{"name": "pairs", "method": "preference"}],
    }
    pipeline = Pipeline.from_dict(data, base=tmp_path, plugins=datagen_plugins, backend="scripted")
    done = pipeline.run(tmp_path / "out")
    rows = done.rows()
    assert [r["instruction"] for r in rows] == INSTRUCTIONS[:2]
    assert all(r["chosen"] == r["output"] and r["chosen"] != r["rejected"] for r in rows)
    step = next(s for s in done.report["steps"] if s["name"] == "pairs")
    (group,) = step["method_details"]  # the method's own figures reach the pipeline's report
    assert group["group"] == 0 and group["pairs"] == 2 and group["tie_rate"] == 0.0


@pytest.mark.parametrize("judge", ["first", "hash"])
def test_judges_of_known_behaviour_behind_the_openai_sdk_get_the_figures_they_deserve(
    datagen_plugins, judge: str
) -> None:
    """Through the openai SDK to the loopback server: scores by the prompt's hash (they carry no
    information, so no length bias to speak of), and a pairwise verdict that always names the first
    answer (every pair a flip, none kept) or a coin (some pairs kept, about two flips in nine)."""
    from datagen.testing_server import Behaviour, LoopbackServer

    instructions = [f"{text} ({i})" for i, text in enumerate(INSTRUCTIONS * 10)]
    with LoopbackServer(Behaviour(enum_choice=judge, vary_answers=True)) as srv:
        backend = {"name": "openai", "openai": {"base_url": srv.url + "/v1", "api_key": "sk-test-000"}}
        gen = Generator(load_config(data={"backend": backend, "cache": {"enabled": False}}, environ={}),
                        plugins=datagen_plugins)  # fmt: skip
        results = gen.run("preference", instructions, len(instructions), pairwise=True)
    details = results.report.method_details
    assert details["ratings"] > 0 and details["ratings_unparsed_dropped"] == 0
    assert sum(details["score_distribution"]["helpfulness"].values()) == details["ratings"]
    if judge == "first":
        assert len(results) == 0 and details["position_flip_rate"] == 1.0 and details["tie_rate"] == 1.0
    else:
        assert len(results) > 0 and 0.05 < details["position_flip_rate"] < 0.5
        assert all(r.metadata["chosen"] != r.metadata["rejected"] for r in results)


def test_a_rating_at_its_longest_fits_the_tokens_the_judge_is_given() -> None:
    """With judge_max_tokens unset a grammar-held judge is never cut off: the longest rating the schema
    allows, laid out generously, has no more characters (so no more tokens) than the judge may write."""
    from datagen_plugins.methods.preference import PAIRWISE_SCHEMA, Preference, PreferenceConfig

    method = Preference(PreferenceConfig(rationale_max_chars=120, scale=10))
    longest = {a: {"rationale": "x" * 120, "score": 10} for a in ASPECTS}
    assert len(json.dumps(longest, indent=20)) <= method.rating_tokens
    verdict = {"rationale": "y" * 300, "better": "tie"}
    assert len(json.dumps(verdict, indent=20)) <= method.verdict_tokens
    assert PAIRWISE_SCHEMA["properties"]["rationale"]["maxLength"] == 300
    assert Preference(PreferenceConfig(judge_max_tokens=64)).rating_tokens == 64


def test_objects_of_a_schema_are_sent_closed_and_answers_checked_against_it_as_given() -> None:
    """A grammar from an open object lets a small model nest keys until the token limit (seen on the
    embedded judge), so every object that does not say otherwise is sent closed."""
    from datagen._engine.structured import closed
    from datagen_plugins.methods.preference import PAIRWISE_SCHEMA, Preference, PreferenceConfig

    sent = closed(Preference(PreferenceConfig()).schema)
    assert sent["additionalProperties"] is False
    assert all(a["additionalProperties"] is False for a in sent["properties"].values())
    assert closed(PAIRWISE_SCHEMA)["additionalProperties"] is False
    open_on_purpose = {
        "type": "object",
        "properties": {"x": {"type": "string"}},
        "additionalProperties": True,
    }
    assert closed(open_on_purpose) == open_on_purpose
    assert "additionalProperties" not in Preference(PreferenceConfig()).schema  # the original is unchanged


def test_with_personas_the_answers_are_written_for_one_and_the_judge_sees_none(
    datagen_plugins, tmp_path
) -> None:
    seen: list[Request] = []
    judge = rubric(lambda answer: min(5, 1 + len(answer.split()) // 3))

    def respond(request: Request) -> str:
        seen.append(request)
        return judge(request)

    (tmp_path / "p.txt").write_text(
        "A beekeeper in rural Ontario.\nA night-shift nurse who studies accounting.\n"
    )
    add_scripted_backend(datagen_plugins, respond)
    data = {
        "backend": {"name": "scripted"},
        "cache": {"enabled": False},
        "generate": {"personas": str(tmp_path / "p.txt")},
    }
    results = Generator(load_config(data=data, environ={}), plugins=datagen_plugins).run(
        "preference", INSTRUCTIONS, 2
    )
    assert len(results) == 2 and all(r.metadata["persona"] for r in results)
    ratings = [r for r in seen if "Rate the answer" in request_text(r)]
    answers = [r for r in seen if "Rate the answer" not in request_text(r)]
    assert ratings and not any("Persona:" in request_text(r) for r in ratings)
    assert answers and all("Persona:" in request_text(r) for r in answers)
