"""The built-in quality filters, as stages of a run and on files."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import datagen
from datagen._datamodel.results import Results
from datagen_plugins.filters._minhash import MinHasher
from datagen_plugins.filters.gopher import Gopher, GopherConfig
from datagen_plugins.filters.near_dedup import jaccard_estimate, optimal_bands

R = datagen.Record


def apply(records: list[datagen.Record], *stages: str, **options: dict) -> Results:
    config = {"filter": dict(options)} if options else None
    return Results(records).apply(*stages, config=config)


def test_every_builtin_filter_is_a_plugin_of_its_own(datagen_plugins) -> None:
    from datagen.testing import check_plugin_class

    names = {"length", "exact_dedup", "near_dedup", "instruction", "blocklist", "decontaminate", "gopher"}
    names |= {"language"}
    assert names <= set(datagen_plugins.registry("filter").names())
    for name in names - {"blocklist", "decontaminate", "length"}:  # these need options (a bound, a list)
        check_plugin_class(datagen_plugins.registry("filter").get(name), "filter")


def test_length_with_the_seeds_option_names() -> None:
    records = [
        R(id="short-out", instruction="Name a colour please.", output="Blue"),
        R(id="ok", instruction="Name a colour please.", output="Blue is a calm colour."),
        R(id="short-ins", instruction="Colour?", output="Blue is a calm colour."),
        R(id="long", instruction="Name a colour please.", output="word " * 300),
    ]
    kept = apply(
        records,
        "length",
        length={"instruction_min_length": 3, "response_min_length": 3, "max_length": 200},
    )
    assert [r.id for r in kept] == ["ok"]
    assert kept.report.stages[0]["reasons"] == {
        "output_too_short": 1,
        "instruction_too_short": 1,
        "output_too_long": 1,
    }
    chars = apply(records[:2], "length", length={"unit": "chars", "fields": ["output"], "min_length": 10})
    assert [r.id for r in chars] == ["ok"]


def test_exact_dedup_normalises_case_whitespace_and_unicode() -> None:
    records = [
        R(id="a", instruction="Name a colour.", output="Blue"),
        R(id="b", instruction="name  a   COLOUR.", output="blue"),
        R(id="c", instruction="Name a colour.", output="Red"),
        R(id="d", instruction="\uff2e\uff41\uff4d\uff45 a colour.", output="BLUE"),  # full-width: NFKC
    ]
    kept = apply(records, "exact_dedup")
    assert [r.id for r in kept] == ["a", "c"]
    assert kept.report.stages[0]["reasons"] == {"duplicate": 2}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ab ", min_size=1, max_size=6), min_size=1, max_size=30), st.randoms())
def test_exact_dedup_finds_every_planted_copy_and_keeps_order(texts: list[str], rnd: random.Random) -> None:
    originals = [R(id=f"o{i}", instruction=f"text {i} {t}") for i, t in enumerate(dict.fromkeys(texts))]
    copies = [
        R(id=f"c{i}", instruction=r.instruction.upper())
        for i, r in enumerate(rnd.sample(originals, len(originals) // 2))
    ]
    mixed = originals + copies
    kept = apply(mixed, "exact_dedup")
    assert [r.id for r in kept] == [r.id for r in originals]  # order kept, every copy found
    again = apply(list(kept), "exact_dedup")
    assert [r.id for r in again] == [r.id for r in kept]  # idempotent


@settings(max_examples=30, deadline=None)
@given(
    st.sets(st.integers(0, 60), min_size=5, max_size=40), st.sets(st.integers(0, 60), min_size=5, max_size=40)
)
def test_minhash_estimates_jaccard_within_tolerance(a: set[int], b: set[int]) -> None:
    hasher = MinHasher(num_perm=256, ngram=1, seed=3)
    text_a, text_b = " ".join(f"w{i}" for i in sorted(a)), " ".join(f"w{i}" for i in sorted(b))
    exact = len(a & b) / len(a | b)
    estimate = jaccard_estimate(hasher.signature(text_a), hasher.signature(text_b))
    assert abs(estimate - exact) <= 0.15  # 256 permutations: standard error <= 0.031


LATIN = st.characters(max_codepoint=0x2FF) | st.sampled_from("ßµİıſ\u0308\u00a0\u2044жЖ中文ǅ_")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(LATIN, max_size=40), min_size=1, max_size=6))
def test_word_hashes_follow_the_words_of_each_text(texts: list[str]) -> None:
    """Words are hashed in bulk over a batch's bytes (fast paths for ASCII and Latin-1): each text gets
    one hash per word as ``words()`` finds them (a text without words: one), equal words equal hashes,
    and a text's hashes do not depend on the batch it comes in."""
    from datagen_plugins.filters._minhash import EMPTY
    from datagen_plugins.filters._text import words

    hasher = MinHasher(num_perm=4, ngram=5, seed=1)
    hashes, lengths = hasher._word_hashes(texts)
    assert int(lengths.sum()) == len(hashes)
    seen: dict[str, int] = {}
    at = 0
    for text, n in zip(texts, lengths.tolist(), strict=True):
        mine, found = hashes[at : at + n].tolist(), words(text)
        at += n
        alone, _ = hasher._word_hashes([text])
        assert alone.tolist() == mine
        if not found:
            assert mine == [int(EMPTY)]
            continue
        assert len(mine) == len(found)
        for word, value in zip(found, mine, strict=True):
            assert seen.setdefault(word, value) == value
    assert len(set(seen.values())) == len(seen)  # no collision among these words


def test_lsh_parameters_follow_the_threshold() -> None:
    b, r = optimal_bands(0.8, 128)
    assert b * r <= 128 and 0.6 <= (1 / b) ** (1 / r) <= 0.9  # the S-curve's midpoint near 0.8


def document(rng: random.Random, words: int = 120) -> str:
    vocab = [f"word{i}" for i in range(2000)]
    return " ".join(rng.choice(vocab) for _ in range(words))


def test_near_dedup_removes_edited_copies_and_keeps_distinct_texts() -> None:
    rng = random.Random(0)
    originals = [document(rng, 300) for _ in range(40)]
    records = [R(id=f"d{i}", output=t) for i, t in enumerate(originals)]
    for i in range(10):  # 10 near copies: one word in 300 replaced (Jaccard of the 5-grams about 0.97)
        words = originals[i].split()
        words[rng.randrange(len(words))] = "edited"
        records.append(R(id=f"near{i}", output=" ".join(words)))
    kept = apply(records, "near_dedup", near_dedup={"fields": ["output"]})
    assert [r.id for r in kept] == [f"d{i}" for i in range(40)]
    assert kept.report.stages[0]["reasons"] == {"near_duplicate": 10}


def test_near_dedup_verify_keeps_candidates_whose_estimate_is_under_the_threshold() -> None:
    """A copy with 5-gram Jaccard about 0.78 and a threshold of 0.95: with 64 bands of 2 rows the pair
    shares a band all but surely; by default that makes a duplicate, with ``verify`` the estimate decides."""
    rng = random.Random(4)
    original = document(rng, 400)
    words = original.split()
    for k in range(0, len(words), 40):  # one word in 40 replaced: about 12 % of the 5-grams changed
        words[k] = "edited"
    records = [R(id="a", output=original), R(id="b", output=" ".join(words))]
    loose = {"fields": ["output"], "bands": 64, "rows": 2, "threshold": 0.95}
    default = apply(records, "near_dedup", near_dedup=loose)
    assert [r.id for r in default] == ["a"]
    verified = apply(records, "near_dedup", near_dedup={**loose, "verify": True})
    assert [r.id for r in verified] == ["a", "b"]


def test_near_dedup_worker_processes_decide_as_one_process_does() -> None:
    """Over several batches, signatures computed by worker processes give the same removals, in order."""
    from datagen_plugins.filters.near_dedup import BATCH

    rng = random.Random(5)
    originals = [document(rng, 40) for _ in range(2 * BATCH + 300)]
    records = [R(id=f"d{i}", output=t) for i, t in enumerate(originals)]
    for i in range(0, len(originals), 7):  # copies spread over the batches, some of them in a later batch
        records.insert(rng.randrange(i, len(records) + 1), R(id=f"copy{i}", output=originals[i] + " end"))
    one = apply(records, "near_dedup", near_dedup={"fields": ["output"], "workers": 1})
    two = apply(records, "near_dedup", near_dedup={"fields": ["output"], "workers": 2})
    assert [r.id for r in two] == [r.id for r in one]
    assert len(records) - len(one) >= len(originals) // 7  # (a copy before its original removes that)


def test_near_dedup_keep_best_keeps_the_highest_score() -> None:
    rng = random.Random(1)
    text = document(rng)
    records = [
        R(id="low", output=text, metadata={"score": 1}),
        R(id="other", output=document(rng), metadata={"score": 0}),
        R(id="high", output=text + " extra", metadata={"score": 9}),
    ]
    kept = apply(records, "near_dedup", near_dedup={"fields": ["output"], "keep": "best"})
    assert sorted(r.id for r in kept) == ["high", "other"]


def test_the_persistent_index_finds_a_duplicate_across_two_runs(tmp_path: Path) -> None:
    rng = random.Random(2)
    text = document(rng)
    options = {"fields": ["output"], "index": str(tmp_path / "idx")}
    first = apply([R(id="a", output=text), R(id="b", output=document(rng))], "near_dedup", near_dedup=options)
    assert len(first) == 2
    second = apply(
        [R(id="c", output=text), R(id="d", output=document(rng))], "near_dedup", near_dedup=options
    )
    assert [r.id for r in second] == ["d"]
    rejected = second.report.stages[0]
    assert rejected["details"]["from_earlier_runs"] == 2


def test_language_keeps_the_expected_languages_with_their_thresholds() -> None:
    tides = "Describe how tides are caused by the moon."
    records = [
        R(
            id="en",
            instruction=tides,
            output="The moon's gravity pulls the oceans, raising a bulge of water.",
        ),
        R(
            id="de",
            instruction="Beschreibe, wie der Mond die Gezeiten verursacht.",
            output="Die Schwerkraft des Mondes zieht das Wasser der Ozeane an und hebt es an.",
        ),
        R(id="fr-output", instruction=tides, output="La gravité de la lune attire les océans vers elle."),
        R(id="short", instruction="Hi", output="Hello"),
    ]
    kept = apply(records, "language")
    assert [r.id for r in kept] == ["en", "short"]
    report = kept.report.stages[0]
    assert report["reasons"] == {"wrong_language": 2}
    assert report["details"]["languages"]["en"] >= 3
    assert kept[0].metadata["language"]["language"] == "en"
    both = apply(records, "language", language={"languages": ["en", "de"]})
    assert [r.id for r in both] == ["en", "de", "short"]
    strict = apply(records, "language", language={"languages": ["en", "de"], "thresholds": {"de": 1.0}})
    assert [r.id for r in strict] == ["en", "short"]
    with pytest.raises(datagen.UsageError, match=r"filter\.language\.thresholds\.de"):
        apply(records, "language", language={"thresholds": {"de": 2}})


@pytest.mark.slow
def test_semantic_dedup_removes_paraphrases_across_and_within_batches() -> None:
    pytest.importorskip("sentence_transformers")
    texts = {
        "cat": "The cat sat on the mat all afternoon.",
        "quantum": "Quantum computers use qubits to represent information.",
        "cat-paraphrase": "All afternoon, the cat was sitting on the mat.",
        "market": "The stock market fell sharply after the announcement.",
        "cat-lower": "the cat sat on the mat all afternoon",
        "market-paraphrase": "After the announcement, stock markets dropped sharply.",
    }
    records = [R(id=k, output=v) for k, v in texts.items()]
    for batch_size in (2, 64):  # duplicates in an earlier batch, and in the same one
        options = {"fields": ["output"], "threshold": 0.85, "batch_size": batch_size}
        kept = apply(records, "semantic_dedup", semantic_dedup=options)
        assert [r.id for r in kept] == ["cat", "quantum", "market"]
        removed = kept.report.stages[0]
        assert removed["reasons"] == {"semantic_duplicate": 3}


def test_instruction_filter_reasons() -> None:
    records = [
        R(id="ok", instruction="Explain photosynthesis briefly.", output="Plants turn light into sugar."),
        R(id="image", instruction="Draw a picture of a cat.", output="..."),
        R(id="punct", instruction="- list three fruits", output="apple"),
        R(id="copy", instruction="Repeat the input.", input="hello there", output="Hello there"),
        R(id="refusal", instruction="Tell me a secret.", output="As an AI language model, I cannot."),
    ]
    kept = apply(records, "instruction")
    assert [r.id for r in kept] == ["ok"]
    assert kept.report.stages[0]["reasons"] == {
        "blacklisted_keyword": 1,
        "starts_with_punctuation": 1,
        "output_copies_input": 1,
        "refusal": 1,
    }


def test_blocklist_words_and_patterns() -> None:
    records = [
        R(id="a", output="a fine answer"),
        R(id="b", output="a Darn answer"),
        R(id="c", output="call 555-1234"),
    ]
    kept = apply(records, "blocklist", blocklist={"words": ["darn"], "patterns": [r"\d{3}-\d{4}"]})
    assert [r.id for r in kept] == ["a"]
    assert kept.report.stages[0]["reasons"] == {"blocked_word": 1, "blocked_pattern": 1}


def test_decontamination_finds_a_13_gram_and_not_a_12_gram(tmp_path: Path) -> None:
    test_set = tmp_path / "bench.jsonl"
    question = "what is the name of the longest river that flows through the city of cairo in egypt"
    test_set.write_text(json.dumps({"question": question, "answer": "the Nile"}) + "\n")
    words = question.split()
    thirteen = "Quiz: " + " ".join(words[2:15]) + "?"
    twelve = "Quiz: " + " ".join(words[2:14]) + " nowhere else."
    records = [R(id="13", instruction=thirteen), R(id="12", instruction=twelve)]
    kept = apply(records, "decontaminate", decontaminate={"benchmarks": {"nile-qa": str(test_set)}})
    assert [r.id for r in kept] == ["12"]
    assert kept.report.stages[0]["details"]["hits"] == {"nile-qa": 1}


def test_gopher_rules() -> None:
    gopher = Gopher(GopherConfig())
    good = (
        "The old town sits where the river meets the sea. Fishermen have worked there for centuries, and "
        "their boats still leave the harbour before dawn. In summer the market fills with visitors who come "
        "to taste the fresh catch, walk along the stone walls and watch the light change over the water. "
        "Winters are quiet: storms close the port for days, and the people who stay mend nets, repair the "
        "houses that face the wind and tell stories of the great flood that reshaped the coast long ago."
    )
    assert gopher.check(good) is None
    assert gopher.check("too short")[0] == "gopher_word_count"
    repeated = "\n".join(["This same line is repeated to fill the page with the text."] * 12)
    assert gopher.check(repeated)[0].startswith("gopher_duplicate")
    bullets = "\n".join(f"- item {i} of the list with the words" for i in range(12))
    assert gopher.check(bullets)[0] == "gopher_bullet_lines"


def test_filters_run_as_stages_of_a_generation_run(cli, tmp_path: Path) -> None:
    seeds = tmp_path / "s.jsonl"
    seeds.write_text("".join(json.dumps({"instruction": f"Task {i % 3}."}) + "\n" for i in range(9)))
    result = cli(
        "generate",
        "--backend",
        "echo",
        "--seeds",
        str(seeds),
        "-n",
        "3",
        "-o",
        "o.jsonl",
        "--filter",
        "exact_dedup",
    )
    assert result.code == 0, result.err
    assert len({r.output for r in Results.load(tmp_path / "o.jsonl")}) == 3


def test_quality_filter_facade_with_the_seeds_options_and_plain_functions() -> None:
    records = [
        R(id="ok", instruction="Name a colour.", output="Blue is calm."),
        R(id="dup", instruction="name a colour.", output="blue is calm."),
        R(id="short", instruction="Name a colour.", output="Hm"),
        R(id="question", instruction="Name a colour.", output="Is it blue?"),
    ]
    qf = datagen.QualityFilter({"response_min_length": 2, "remove_duplicates": True})
    assert qf.chain == ["length", "exact_dedup"]
    name = qf.register_filter(lambda r: "asks_back" if "?" in (r.output or "") else True)

    def no_red(record: datagen.Record) -> bool:
        return "red" not in (record.output or "").lower()

    assert qf.register_filter(no_red) == "no_red"
    kept = qf.filter(Results(records))
    assert [r.id for r in kept] == ["ok"]
    stages = {s["name"]: s for s in kept.report.stages}
    assert stages["length"]["reasons"] == {"output_too_short": 1}
    assert stages["exact_dedup"]["reasons"] == {"duplicate": 1}
    assert stages[name]["reasons"] == {"asks_back": 1}
    assert stages["no_red"]["examined"] == 1 and stages["no_red"]["retention"] == 1.0


def test_quality_filter_reports_are_well_defined_when_nothing_comes_in_or_nothing_is_left() -> None:
    qf = datagen.QualityFilter({"min_length": 1000})
    empty = qf.filter(Results())
    assert len(empty) == 0 and empty.report.stages[0]["retention"] is None  # no division by zero
    none_left = qf.filter([R(id="a", instruction="x", output="y")])
    assert len(none_left) == 0 and none_left.report.stages[0]["retention"] == 0.0
    with pytest.raises(datagen.UsageError, match="unknown option"):
        datagen.QualityFilter({"min_length": 1, "colour": "blue"})


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a b c", "A  b c", "d e", "f", "a b c d e f g h"]), max_size=25))
def test_filtering_never_adds_keeps_order_and_is_idempotent(texts: list[str]) -> None:
    records = [R(id=str(i), instruction="task", output=t) for i, t in enumerate(texts)]
    qf = datagen.QualityFilter({"response_min_length": 2, "remove_duplicates": True})
    once = qf.filter(records)
    ids = [r.id for r in once]
    assert len(ids) <= len(records) and ids == sorted(ids, key=int)  # a subsequence, in order
    twice = datagen.QualityFilter({"response_min_length": 2, "remove_duplicates": True}).filter(list(once))
    assert [r.id for r in twice] == ids


def test_the_index_flag_of_datagen_filter_dedups_across_runs(cli, tmp_path: Path) -> None:
    rng = random.Random(5)
    text = document(rng, 200)
    Results([R(id="a", output=text)]).save(tmp_path / "one.jsonl")
    Results([R(id="b", output=text), R(id="c", output=document(rng, 200))]).save(tmp_path / "two.jsonl")
    args = ["--filter", "near_dedup", "--index", "idx", "--set", 'filter.near_dedup.fields=["output"]']
    assert cli("filter", "one.jsonl", "-o", "k1.jsonl", *args).code == 0
    second = cli("filter", "two.jsonl", "-o", "k2.jsonl", *args)
    assert second.code == 0, second.err
    assert [r.id for r in Results.load(tmp_path / "k2.jsonl")] == ["c"]


def test_the_judge_scores_through_a_backend_and_keeps_its_scores(datagen_plugins, tmp_path: Path) -> None:
    from datagen.testing import add_scripted_backend, request_text

    asked: list[str] = []

    def judge(request):  # a judge that likes long answers
        text = request_text(request)
        asked.append(text)
        answer = text.split("### Answer:")[1].split("Reply with JSON")[0]
        good = len(answer.split()) > 4
        return json.dumps(
            dict.fromkeys(("helpfulness", "correctness", "honesty", "complexity"), 5 if good else 1)
        )

    add_scripted_backend(datagen_plugins, judge)
    records = [
        R(id="long", instruction="Explain rain.", output="Water vapour condenses into drops that fall."),
        R(id="short", instruction="Explain rain.", output="It rains."),
    ]
    config = {"backend": {"name": "scripted"}, "cache": {"dir": str(tmp_path / "cache")}}
    kept = Results(records).apply("judge", config=config, plugins=datagen_plugins)
    assert [r.id for r in kept] == ["long"]
    assert kept[0].metadata["judge"]["mean"] == 5.0
    stage = kept.report.stages[0]
    assert stage["reasons"] == {"judge_below_threshold": 1}
    assert stage["details"] == {
        "scored": 2,
        "mean_scores": {"helpfulness": 3.0, "correctness": 3.0, "honesty": 3.0, "complexity": 3.0},
    }
    assert len(asked) == 2 and "helpfulness" in asked[0]
    Results(records).apply("judge", config=config, plugins=datagen_plugins)
    assert len(asked) == 2  # the second pass is answered from the cache


def test_moderation_through_the_openai_client_against_a_loopback_server(tmp_path: Path, monkeypatch) -> None:
    from datagen.testing_server import Behaviour, LoopbackServer

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    records = [
        R(id="calm", instruction="Describe a quiet morning.", output="The lake was still and grey."),
        R(id="violent", instruction="Write a story.", output="He wanted to kill the dragon."),
        R(id="rude", instruction="Answer politely, you idiot.", output="Certainly."),
        R(id="calm2", instruction="Name a fruit.", output="A pear."),
    ]
    # one injected 500 on the first request: retried
    with LoopbackServer(Behaviour(fail_first=1, error_kinds=("500",))) as srv:
        config = {
            "backend": {"openai": {"base_url": srv.url + "/v1"}},
            "filter": {"moderation": {"batch_size": 3}},
        }
        kept = Results(records).apply("moderation", config=config)
        assert [r.id for r in kept] == ["calm", "calm2"]
        stage = kept.report.stages[0]
        assert stage["reasons"] == {"moderation_flagged": 2}
        assert stage["details"]["categories"] == {"violence": 1, "harassment": 1}
        narrow = {**config, "filter": {"moderation": {"categories": ["violence"], "threshold": 0.9}}}
        assert [r.id for r in Results(records).apply("moderation", config=narrow)] == [
            "calm",
            "rude",
            "calm2",
        ]
    # OpenAI's own API without a key: an error naming the variable, before any request
    with pytest.raises(datagen.UsageError, match="OPENAI_API_KEY"):
        Results(records).apply("moderation", config={"backend": {"openai": {"base_url": None}}})


def test_length_measures_the_fields_a_record_has_and_requires_the_named_ones() -> None:
    """A document (no instruction) and a conversation (no instruction, no output) are measured on what
    they have under min_length; instruction_min_length still requires an instruction."""
    document = R(id="doc", output="A document of several words.")
    chat = R(id="chat", messages=(datagen.Message("user", "Hi"), datagen.Message("assistant", "Hello")))
    short = R(id="short", output="Tiny.")
    shared = {"fields": ["instruction", "output", "messages"], "min_length": 3}
    kept = apply([document, chat, short], "length", length=shared)
    assert [r.id for r in kept] == ["doc"]
    assert kept.report.stages[0]["reasons"] == {"messages_too_short": 1, "output_too_short": 1}
    required = apply([document], "length", length={"instruction_min_length": 1})
    assert len(required) == 0 and required.report.stages[0]["reasons"] == {"instruction_too_short": 1}


def test_length_without_any_bound_is_an_error_before_any_work() -> None:
    records = Results([datagen.Record(instruction="Name a colour.", output="Blue.")])
    with pytest.raises(datagen.UsageError, match=r"filter\.length: no bound is set"):
        records.apply("length")


def test_a_filter_whose_defaults_do_not_fit_the_records_says_so_before_the_pass(capsys) -> None:
    answers = Results(
        [datagen.Record(instruction=f"Task {i}?", output=f"A short answer number {i}.") for i in range(30)]
    )
    kept = answers.apply("gopher")
    assert len(kept) == 0  # Gopher's 50-word minimum removes every one-line answer ...
    advice = [line for line in capsys.readouterr().err.splitlines() if "stage_misfit" in line]
    assert len(advice) == 1 and "30 of the first 30 texts" in advice[0]  # ... and it was said, once
    documents = Results([datagen.Record(instruction="Write.", output=" ".join(["word"] * 80))] * 3)
    documents.apply("gopher")
    assert "stage_misfit" not in capsys.readouterr().err


def test_a_streaming_stage_holds_no_record_it_has_passed_on() -> None:
    """Records stream through stages: the sample a stage is advised on stays a sample, whether or not
    the stage gives advice (it once grew to the whole input for stages without ``advise``)."""
    import gc
    import weakref

    alive: weakref.WeakValueDictionary[int, datagen.Record] = weakref.WeakValueDictionary()
    most = 0

    def source():
        nonlocal most
        for i in range(3_000):
            record = R(id=f"d{i}", output=f"text number {i}")
            alive[i] = record
            yield record
            if i % 500 == 499:
                gc.collect()
                most = max(most, len(alive))

    from datagen._app.pipeline import apply_stages

    with tempfile.TemporaryDirectory() as tmp:  # the kept records go to a file, not a list
        kept = apply_stages(source(), ["exact_dedup"], out=Path(tmp) / "kept.jsonl")
        assert len(kept) == 3_000
    assert most <= 200  # the advice sample (100) and what is in flight, not thousands


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 300))
def test_near_dedup_indexes_a_batch_at_once_as_one_record_after_another_would(seed: int, size: int) -> None:
    """The records of a batch that share no bucket with anything earlier are indexed together; the
    outcome (kept records, removals with what they duplicate) is the one-by-one outcome."""
    from datagen_plugins.filters.near_dedup import NearDedup, NearDedupConfig

    rnd = random.Random(seed)
    originals = [document(rnd, 40) for _ in range(max(1, size // 3))]
    texts = [rnd.choice(originals) if rnd.random() < 0.4 else document(rnd, 40) for _ in range(size)]
    batch = [R(id=f"r{i}", output=t) for i, t in enumerate(texts)]

    class Removals:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str]] = []

        def remove(self, record: datagen.Record, reason: str, **details: object) -> None:
            self.seen.append((record.id, str(details["duplicate_of"])))

    config = NearDedupConfig(fields=["output"], workers=1)
    earlier = [R(id=f"e{i}", output=t) for i, t in enumerate(originals[:3])]
    batched, one_by_one = NearDedup(config), NearDedup(config)
    for stage in (batched, one_by_one):
        for record in earlier:  # an index that is not empty
            signature = stage.hasher.signature(record.output or "")
            stage.add(record.id, signature, stage.band_keys(signature[None, :])[0])
    together = Removals()
    kept = batched._first(together, batch, batched.hasher.signatures(texts))  # type: ignore[arg-type]
    alone = Removals()
    expected = []
    for record in batch:
        signature = one_by_one.hasher.signature(record.output or "")
        keys = one_by_one.band_keys(signature[None, :])[0]
        found = one_by_one.match(signature, keys)
        if found is None:
            one_by_one.add(record.id, signature, keys)
            expected.append(record)
        else:
            alone.remove(record, "near_duplicate", duplicate_of=one_by_one.ids[found[0]])
    assert [r.id for r in kept] == [r.id for r in expected]
    assert together.seen == alone.seen
    assert sorted(batched.ids) == sorted(one_by_one.ids)


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_another_tools_rows_come_out_of_filter_and_scrub_in_their_own_shape(
    cli, tmp_path: Path, suffix: str
) -> None:
    """``{"id", "text", "url"}`` rows (a pretraining corpus) through ``datagen filter`` and ``datagen scrub``:
    the kept rows have the same keys, the text changed only by the stages, the duplicates gone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "id": f"d{i}",
            "text": f"Notes on topic {i % 4}: rivers, stones and maps. Mail me at p{i % 4}@example.org",
            "url": f"https://x/{i % 4}",
        }
        for i in range(12)
    ]
    source = tmp_path / f"docs.{suffix}"
    if suffix == "jsonl":
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), source)

    def read(path: Path) -> list[dict]:
        if suffix == "jsonl":
            return [json.loads(line) for line in path.read_text().splitlines()]
        return pq.read_table(path).to_pylist()

    kept = tmp_path / f"kept.{suffix}"
    assert cli("filter", str(source), "-o", str(kept), "--filter", "exact_dedup").code == 0
    assert read(kept) == rows[:4]  # the same rows, the same keys, the copies removed
    scrubbed = tmp_path / f"scrubbed.{suffix}"
    assert cli("scrub", str(kept), "-o", str(scrubbed), "--fields", "output").code == 0
    out = read(scrubbed)
    assert [set(r) for r in out] == [{"id", "text", "url"}] * 4
    assert all("[EMAIL]" in r["text"] and "@example.org" not in r["text"] for r in out)
    assert [r["url"] for r in out] == [r["url"] for r in rows[:4]]  # only the text field was scrubbed
