"""Every generation method, driven by scripted backends in both prompt styles (chat and completion)."""

from __future__ import annotations

import itertools
import re

import pytest

import datagen
from datagen import Generator, UsageError, load_config
from datagen._datamodel.seeds import load_seeds_file
from datagen._engine.llm import Request
from datagen._text.rouge import rouge_l
from datagen.errors import ConfigError
from datagen.testing import add_scripted_backend, check_method_rejects_bad_input, request_text, run_method

SEEDS = load_seeds_file(datagen.SEED_TASKS)


def generator(pm, **config) -> Generator:
    data = {"backend": {"name": "scripted"}, "cache": {"enabled": False}, **config}
    return Generator(load_config(data=data, environ={}), plugins=pm)


# ---------------------------------------------------------------------------------------- self_instruct


VOCAB = (
    "volcano tax sourdough jazz tide chess solar castle frog marathon origami glacier pension violin comet "
    "harbor lantern quartz meadow bicycle walrus orchid canyon printer sonnet falcon tundra compass mosaic "
    "velvet riddle ginger beacon saddle nectar puzzle anchor blossom cobalt"
).split()


def novel_task(n: int) -> str:
    """A task sharing almost no words with task ``n - 1`` or any seed."""
    import random

    words = random.Random(n).sample(VOCAB, 6)
    return f"Describe how {words[0]} {words[1]} relates to {words[2]} {words[3]} near {words[4]} {words[5]}."


def self_instruct_responder(counter: itertools.count):
    def respond(request: Request) -> str:
        text = request_text(request)
        if "Class label" in text:
            return "Positive\nInput: I loved every minute of it."
        if "classification" in text:
            return "Yes" if "positive or negative" in text.split("Task:")[-1] else "No"
        if (
            text.rstrip().endswith(("Output:", "Task:"))
            or "Write one example" in text
            or "examples for" in text
        ):
            return "Input: none\nOutput: Here is a careful answer."
        n = next(counter)
        new = [
            novel_task(2 * n),
            "Draw an image of a cat sitting on a mat.",  # blacklisted
            SEEDS[0].instruction,  # a copy of a seed: not novel
            f"Say whether this {novel_task(2 * n + 1)[9:-1]} review is positive or negative.",
            "Hi.",  # too short
        ]
        if request.messages is not None:
            return "\n".join(f"{i}. {t}" for i, t in enumerate(new, 1))
        return "\n".join(f"Task {9 + i}: {t}" if i else f" {t}" for i, t in enumerate(new))

    return respond


@pytest.mark.parametrize("chat", [True, False])
def test_self_instruct_bootstraps_novel_filtered_tasks(datagen_plugins, chat) -> None:
    add_scripted_backend(datagen_plugins, self_instruct_responder(itertools.count()), chat=chat)
    results = run_method(
        datagen_plugins,
        "self_instruct",
        SEEDS,
        6,
        backend="scripted",
        config={"backend": {"name": "scripted"}},
    )
    assert len(results) == 6
    instructions = [r.instruction for r in results]
    assert len(set(instructions)) == 6
    assert not any("image" in i or i == SEEDS[0].instruction for i in instructions)
    for a, b in itertools.combinations(instructions + [s.instruction for s in SEEDS], 2):
        assert a == b or rouge_l(a, b) < 0.7 or a in [s.instruction for s in SEEDS]
    assert {r.metadata["is_classification"] for r in results} == {True, False}
    classified = next(r for r in results if r.metadata["is_classification"])
    assert classified.output == "Positive" and classified.input == "I loved every minute of it."
    plain = next(r for r in results if not r.metadata["is_classification"])
    assert plain.input is None and plain.output == "Here is a careful answer."
    assert all(len(r.provenance.seed_ids) >= 6 and r.provenance.method == "self_instruct" for r in results)


def test_self_instruct_counts_what_it_rejects(datagen_plugins, cli, tmp_path) -> None:
    add_scripted_backend(datagen_plugins, self_instruct_responder(itertools.count()))
    gen = generator(datagen_plugins)
    results = gen.generate_from_seed(SEEDS[:20], 4)
    assert len(results) == 4


def test_self_instruct_stops_when_nothing_new_comes(datagen_plugins) -> None:
    add_scripted_backend(datagen_plugins, lambda r: "1. " + SEEDS[1].instruction)
    results = run_method(
        datagen_plugins, "self_instruct", SEEDS, 3, backend="scripted", options={"max_requests_per_record": 2}
    )
    assert len(results) == 0


def test_self_instruct_rounds_are_reproducible() -> None:
    from datagen import load_plugins

    prompts_a, prompts_b = [], []
    for store in (prompts_a, prompts_b):
        pm = load_plugins(strict=True, disable=())
        add_scripted_backend(pm, self_instruct_responder(itertools.count()))
        gen = generator(pm)
        results = gen.run("self_instruct", SEEDS, 3)
        store.extend(r.provenance.prompt_hash for r in results)
    assert prompts_a == prompts_b


# ---------------------------------------------------------------------------------------- evol_instruct


def evol_responder(request: Request) -> str:
    text = request_text(request)
    if "Equal or Not Equal" in text or '"Equal"' in text:
        return "Equal" if "SAME" in text.split("Second:")[-1] else "Not Equal"
    if "harder" in text.lower() or "new prompt" in text.lower():  # in-depth or in-breadth
        found = re.findall(r"(?:#Prompt#|#Given prompt#): (.*)", text)
        parent = found[-1].strip() if found else text.split("Prompt:\n", 1)[1].strip()
        if "leak" in parent:
            return parent + " Make it harder than the #Given Prompt#."
        if "same" in parent:
            return parent + " SAME"
        if "unchanged" in parent:
            return parent.upper()
        return parent + " Use exactly three examples and cite one source."
    if "refuse" in text:
        return "Sorry, I cannot help with that."
    if "empty" in text:
        return "the of and ."
    return "A full and careful answer with details."


@pytest.mark.parametrize("chat", [True, False])
def test_evol_instruct_evolves_and_eliminates(datagen_plugins, chat) -> None:
    add_scripted_backend(datagen_plugins, evol_responder, chat=chat)
    gen = generator(datagen_plugins)
    seeds = ["Name three fruits.", "A leak case.", "A same case.", "Please refuse this.", "An empty case."]
    results = gen.evolve_instructions(seeds, rounds=2)
    assert [r.instruction for r in results] == [
        "Name three fruits. Use exactly three examples and cite one source.",
        "Name three fruits. Use exactly three examples and cite one source. "
        "Use exactly three examples and cite one source.",
    ]
    first, second = results
    assert first.metadata["round"] == 1 and second.metadata["round"] == 2
    assert second.provenance.parent_id == first.id and len(second.metadata["lineage"]) == 2
    assert first.output == "A full and careful answer with details."


def test_evol_instruct_reports_elimination_reasons(datagen_plugins, cli, tmp_path, monkeypatch) -> None:
    add_scripted_backend(datagen_plugins, evol_responder)
    from datagen._app.runner import execute, prepare, run_sync
    from datagen._datamodel.seeds import to_seeds

    config = load_config(
        data={
            "backend": {"name": "scripted"},
            "cache": {"enabled": False},
            "method": {"evol_instruct": {"max_attempts": 1}},
        },
        environ={},
    )
    seeds = to_seeds(
        [
            "Name three fruits.",
            "A leak case.",
            "A same case.",
            "Please refuse this.",
            "An empty case.",
            "An unchanged one.",
        ]
    )
    prepared = prepare(config, datagen_plugins, seeds, count=6, method="evol_instruct")
    run_sync(execute(prepared, datagen_plugins))
    dropped = prepared.run.stats.dropped
    assert dropped["eliminated_copied_prompt"] == 1
    assert dropped["eliminated_no_information_gain"] == 1  # the judge said Equal
    assert dropped["eliminated_unanswerable"] == 1
    assert dropped["eliminated_empty_answer"] == 1
    assert dropped["eliminated_unchanged"] == 1  # the same words, only re-cased
    assert prepared.run.stats.records == 1


def test_evol_instruct_retries_an_eliminated_evolution_with_another_operation(datagen_plugins) -> None:
    def responder(request: Request) -> str:
        text = request_text(request)
        if "Equal or Not Equal" in text or '"Equal"' in text:
            return "Not Equal"
        if "new prompt" in text.lower():  # in-breadth: a fresh task
            return "Name two root vegetables eaten raw in Korea, with a dish for each."
        if "harder" in text.lower():  # every in-depth rewrite copies the few-shot example
            return "Name three tropical fruits high in vitamin C, and for each say when it is harvested."
        return "Radish in kkakdugi and carrot in salads."

    add_scripted_backend(datagen_plugins, responder)
    gen = generator(datagen_plugins)
    results = gen.evolve_instructions(["Name three fruits."], rounds=1, max_attempts=6)
    assert [r.metadata["operation"] for r in results] == ["breadth"]
    report = results.report
    assert report.method_rejections["eliminated_copied_prompt"] >= 1
    assert (
        report.method_rejections["evolution_retried"] == report.method_rejections["eliminated_copied_prompt"]
    )
    single = gen.evolve_instructions(
        ["Name three fruits."], rounds=1, max_attempts=1, weights={"deepen": 1.0}
    )
    assert len(single) == 0 and single.report.short_reasons


def test_evol_instruct_sends_the_seed_input_and_keeps_multiline_input_data(datagen_plugins) -> None:
    table = "| item | price |\n|---|---|\n| tea | 3 |\n| cake | 4 |"
    sent: list[str] = []

    def responder(request: Request) -> str:
        text = request_text(request)
        sent.append(text)
        if "Equal or Not Equal" in text or '"Equal"' in text:
            return "Not Equal"
        if "harder" in text.lower():
            return f"Compute the total price of this order, with a 10% discount on cake:\n\n{table}"
        return "6.6"

    add_scripted_backend(datagen_plugins, responder)
    gen = generator(datagen_plugins)
    seed = {"instruction": "Compute the total price.", "input": "tea 3, cake 4"}
    results = gen.evolve_instructions([seed], rounds=1, weights={"complicate_input": 1.0})
    (record,) = results
    assert "Compute the total price.\ntea 3, cake 4" in sent[0]  # the input travels with the instruction
    assert record.instruction.endswith(table)  # the table keeps its lines
    assert record.output == "6.6"


def test_evol_instruct_keeps_answers_in_any_script_and_can_include_the_seeds(datagen_plugins) -> None:
    def responder(request: Request) -> str:
        text = request_text(request)
        if "Equal or Not Equal" in text or '"Equal"' in text:
            return "Not Equal"
        if "harder" in text.lower() or "new prompt" in text.lower():
            return "用一句话说明法国的首都是哪座城市并说出它的一条河流。"
        return "巴黎是法国的首都。"

    add_scripted_backend(datagen_plugins, responder)
    gen = generator(datagen_plugins)
    results = gen.evolve_instructions(["What is the capital of France?"], rounds=1, include_seeds=True)
    assert [r.metadata["round"] for r in results] == [0, 1]
    assert results[0].instruction == "What is the capital of France?"
    assert results[1].output == "巴黎是法国的首都。"


def test_evol_instruct_weights_choose_operations(datagen_plugins) -> None:
    add_scripted_backend(datagen_plugins, evol_responder)
    results = run_method(
        datagen_plugins,
        "evol_instruct",
        ["Name three fruits.", "Explain rain."],
        2,
        backend="scripted",
        options={"weights": {"breadth": 1.0, "deepen": 0.0}},
    )
    assert {r.metadata["operation"] for r in results} == {"breadth"}
    with pytest.raises(UsageError, match="unknown operation"):
        run_method(datagen_plugins, "evol_instruct", ["x y z"], 1, options={"weights": {"fly": 1.0}})


# ---------------------------------------------------------------------------------------------- template


def test_template_samples_distinct_combinations(datagen_plugins) -> None:
    gen = generator(datagen_plugins, backend={"name": "echo"})
    variables = {"kind": ["poem", "story", "essay"], "topic": lambda: iter(["cats", "rain", "tea", "maps"])}
    results = gen.generate_from_template("Write a {{ kind }} about {{ topic }}.", variables, 12)
    assert len({r.instruction for r in results}) == 12 and all(r.output is None for r in results)
    completed = gen.generate_from_template("Describe {{ thing }}.", {"thing": ["a", "b"]}, 2, complete=True)
    assert {r.output for r in completed} == {"echo: Describe a.", "echo: Describe b."}
    with pytest.raises(UsageError, match="count 13 exceeds the 12 distinct combinations"):
        gen.generate_from_template("Write a {{ kind }} about {{ topic }}.", variables, 13)
    with pytest.raises(UsageError, match=r"undefined variable\(s\) topic"):
        gen.generate_from_template("About {{ topic }}.", {"kind": ["x"]}, 1)
    with pytest.raises(UsageError, match="line 1"):
        gen.generate_from_template("About {{ topic ", {"topic": ["x"]}, 1)


# -------------------------------------------------------------------------------------------- controlled


def test_controlled_verifies_and_retries(datagen_plugins) -> None:
    def respond(request: Request) -> str:  # the seed encodes the attempt: fail the first, pass the second
        return "Tea is nice." if request.seed % 1000 == 0 else "Green tea from Japan is mellow and grassy."

    add_scripted_backend(datagen_plugins, respond)
    gen = generator(datagen_plugins)
    results = gen.generate_with_constraints(["Describe tea."], {"keywords": ["Japan"], "length": "short"}, 2)
    assert len(results) == 2 and all("Japan" in r.output for r in results)
    assert all(r.metadata["attempts"] == 2 for r in results)
    prompt = request_text(Request(prompt="x"))
    assert prompt == "x"


def test_controlled_drops_what_never_verifies(datagen_plugins) -> None:
    add_scripted_backend(datagen_plugins, lambda r: "Nothing relevant here.")
    results = run_method(
        datagen_plugins,
        "controlled",
        ["Describe tea."],
        1,
        backend="scripted",
        options={"constraints": {"keywords": ["Japan"]}},
    )
    assert len(results) == 0


def test_controlled_tries_another_seed_after_a_looping_answer(datagen_plugins) -> None:
    from datagen._datamodel.records import Usage
    from datagen._engine.llm import Response

    def respond(request: Request) -> Response:  # the first attempt loops until the token limit
        if request.seed % 1000 == 0:
            return Response("Tea.\n" * 12, "length", Usage(5, 50), "scripted")
        return Response("Green tea from Japan is mellow.", "stop", Usage(5, 8), "scripted")

    add_scripted_backend(datagen_plugins, respond)
    results = generator(datagen_plugins).generate_with_constraints(
        ["Describe tea."], {"keywords": ["Japan"]}, 1
    )
    assert [r.metadata["attempts"] for r in results] == [2]
    assert results.report.method_rejections == {"degenerate_repeated_line": 1}


def test_controlled_judges_style_and_tone(datagen_plugins) -> None:
    def respond(request: Request) -> str:
        text = request_text(request)
        if "Answer Yes or No" in text:
            return "No" if "formal" in text else "Yes"
        return "Hey, tea is great, grab some!"

    add_scripted_backend(datagen_plugins, respond)
    ok = run_method(
        datagen_plugins,
        "controlled",
        ["Describe tea."],
        1,
        backend="scripted",
        options={"constraints": {"tone": "friendly"}, "judge": True},
    )
    bad = run_method(
        datagen_plugins,
        "controlled",
        ["Describe tea."],
        1,
        backend="scripted",
        options={"constraints": {"style": "formal"}, "judge": True},
    )
    assert len(ok) == 1 and len(bad) == 0


def test_controlled_rejects_unknown_constraints(datagen_plugins) -> None:
    gen = generator(datagen_plugins, backend={"name": "echo"})
    with pytest.raises(ConfigError, match=r"\$.method.controlled.constraints.colour: unknown key"):
        gen.generate_with_constraints(["x"], {"colour": "red"})
    with pytest.raises(UsageError, match="expected one of short, medium, long"):
        gen.generate_with_constraints(["x"], {"length": "epic"})


# ------------------------------------------------------------------------------------------ augmentation


def test_paraphrase_rejects_copies_and_counts_them(datagen_plugins) -> None:
    def respond(request: Request) -> str:  # a copy on each first attempt, a rewording on the second
        source = re.findall(r"(?:Original|Text): (.*)", request_text(request))[-1]
        return source if request.seed % 100 == 0 else "In other words: " + source[::-1]

    add_scripted_backend(datagen_plugins, respond)
    gen = generator(datagen_plugins)
    examples = [{"id": "e1", "instruction": "How do I boil an egg?", "output": "Boil it for 8 minutes."}]
    results = gen.augment_by_paraphrasing(examples, variations_per_example=2)
    assert len(results) == 2 and all(r.instruction != "How do I boil an egg?" for r in results)
    assert all(r.metadata["attempts"] == 2 and r.provenance.parent_id == "e1" for r in results)
    assert all(r.output == "Boil it for 8 minutes." for r in results)  # only the instruction was rewritten
    both = gen.augment_by_paraphrasing(examples, 1, fields_to_paraphrase=["instruction", "output"])
    assert both[0].output != "Boil it for 8 minutes." and both[0].metadata["rewritten"] == [
        "instruction",
        "output",
    ]


def test_paraphrase_gives_up_on_a_model_that_only_copies(datagen_plugins) -> None:
    add_scripted_backend(
        datagen_plugins, lambda r: re.findall(r"(?:Original|Text): (.*)", request_text(r))[-1]
    )
    results = run_method(
        datagen_plugins, "paraphrase", [{"instruction": "How do I boil an egg?"}], 2, backend="scripted"
    )
    assert len(results) == 0


def test_style_variation_and_domain_transfer(datagen_plugins) -> None:
    def respond(request: Request) -> str:
        text = request_text(request)
        if "style" in text:
            return "Styled: " + re.findall(r"Style: (\w+)|in a (\w+) style", text)[-1][0]
        if "domain" in text:
            return "Summarise the key points of this loan agreement."
        return "An answer about the new task."

    add_scripted_backend(datagen_plugins, respond)
    gen = generator(datagen_plugins)
    examples = [{"instruction": "Summarise this essay.", "output": "The essay argues that cats rule."}]
    styled = gen.augment_with_style_variation(examples, ["formal", "pirate"])
    assert sorted(r.metadata["variant"] for r in styled) == ["formal", "pirate"]
    assert all(r.instruction == "Summarise this essay." and r.output != examples[0]["output"] for r in styled)
    moved = gen.augment_with_domain_transfer(examples, ["finance"])
    assert moved[0].instruction == "Summarise the key points of this loan agreement."
    assert moved[0].output == "An answer about the new task." and moved[0].metadata["variant"] == "finance"


# ------------------------------------------------------------------------------------------ conversation


@pytest.mark.parametrize("chat", [True, False])
def test_conversations_alternate_turns(datagen_plugins, chat) -> None:
    turn = itertools.count()
    add_scripted_backend(datagen_plugins, lambda r: f"turn text {next(turn)}", chat=chat)
    gen = generator(datagen_plugins)
    results = gen.generate_conversations(["Tell me about tides."], 2, turns=3)
    assert len(results) == 2
    for record in results:
        roles = [m.role for m in record.messages]
        assert roles == ["user", "assistant"] * 3 and record.messages[0].content == "Tell me about tides."
        assert record.provenance.usage.completion_tokens == 3 * 5  # summed over the five generated turns
    topics = gen.generate_conversations(["the moon"], 1, turns=2, seed_is_topic=True)
    assert topics[0].metadata["topic"] == "the moon" and topics[0].messages[0].content.startswith("turn text")


# ------------------------------------------------------------------------------------------- pretraining


def test_pretraining_documents_meet_length_targets(datagen_plugins) -> None:
    def respond(request: Request) -> str:  # too short on each first attempt
        return "word " * (5 if request.seed % 100 == 0 else 40)

    add_scripted_backend(datagen_plugins, respond)
    gen = generator(datagen_plugins)
    results = gen.generate_pretraining(["tides", "bread"], 4, target_words=40, personas=["a sailor"])
    assert len(results) == 4 and all(
        r.metadata["words"] == 40 and r.metadata["attempts"] == 2 for r in results
    )
    assert {r.metadata["topic"] for r in results} == {"tides", "bread"}
    assert all(r.instruction is None and r.metadata["persona"] == "a sailor" for r in results)


# ------------------------------------------------------------------------------------------------ domain


def test_domain_presets_generate_novel_domain_tasks(datagen_plugins) -> None:
    counter = itertools.count()

    def respond(request: Request) -> str:
        text = request_text(request)
        if "### Task" in text or (request.messages and request.messages[0].role == "system"):
            return "An expert answer."
        n = next(counter)
        return f"1. {novel_task(100 + n)}\n2. Hi."

    add_scripted_backend(datagen_plugins, respond)
    gen = generator(datagen_plugins)
    results = gen.generate_domain_data(3, preset="legal")
    assert len(results) == 3 and all(r.metadata["domain"] == "legal" for r in results)
    assert all(r.output == "An expert answer." for r in results)
    with pytest.raises(
        UsageError, match="unknown preset 'astrology'; presets: code, finance, legal, medical"
    ):
        gen.generate_domain_data(1, preset="astrology")


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "method",
    [
        "self_instruct",
        "evol_instruct",
        "controlled",
        "paraphrase",
        "style_variation",
        "domain_transfer",
        "conversation",
    ],
)
def test_methods_reject_bad_input_before_any_request(datagen_plugins, method) -> None:
    check_method_rejects_bad_input(datagen_plugins, method)


def test_seeds_without_instructions_are_refused(datagen_plugins) -> None:
    with pytest.raises(UsageError, match="a seed needs a non-empty 'instruction'"):
        run_method(datagen_plugins, "self_instruct", [{"output": "x"}], 1)


def test_prompt_overrides_are_checked(datagen_plugins) -> None:
    with pytest.raises(UsageError, match=r"\$.method.paraphrase.prompts: unknown template\(s\) nope"):
        run_method(datagen_plugins, "paraphrase", ["x y z"], 1, options={"prompts": {"nope": "x"}})
    add_scripted_backend(datagen_plugins, lambda r: "Reworded: " + request_text(r)[::-1])
    results = run_method(
        datagen_plugins,
        "paraphrase",
        ["How are you today?"],
        1,
        backend="scripted",
        options={"prompts": {"paraphrase_chat": "REWORD THIS: {{ text }}"}},
    )
    assert results[0].instruction.startswith("Reworded: ") and "SIHT DROWER" in results[0].instruction


def test_self_instruct_can_classify_by_keywords(datagen_plugins) -> None:
    from datagen_plugins.methods.self_instruct import _CLASSIFICATION_CUES

    assert _CLASSIFICATION_CUES.search("Tell me whether this email is spam.")
    assert _CLASSIFICATION_CUES.search("Classify the sentiment of the review.")
    assert not _CLASSIFICATION_CUES.search("Write a haiku about autumn leaves.")
    add_scripted_backend(datagen_plugins, self_instruct_responder(itertools.count()))
    results = run_method(
        datagen_plugins, "self_instruct", SEEDS, 4, backend="scripted", options={"classify_with": "keywords"}
    )
    by_kind = {r.metadata["is_classification"]: r for r in results}
    assert by_kind[True].instruction.startswith("Say whether")  # the cue "whether", no classifier request
    assert "Say whether" not in by_kind[False].instruction
    with pytest.raises(UsageError, match="classify_with: expected 'auto', 'model' or 'keywords'"):
        run_method(datagen_plugins, "self_instruct", SEEDS, 1, options={"classify_with": "coin"})


def test_self_instruct_classify_with_auto_asks_the_model_except_on_the_embedded_one(datagen_plugins) -> None:
    asked: list[str] = []

    def responder(request: Request) -> str:
        text = request_text(request)
        if "classification" in text.lower():
            asked.append(text)
        return self_instruct_responder(itertools.count())(request)

    add_scripted_backend(datagen_plugins, responder)
    run_method(datagen_plugins, "self_instruct", SEEDS, 2, backend="scripted")
    assert asked  # an API-style backend: the paper's question is asked
    from datagen_plugins.methods.self_instruct import EMBEDDED_BACKEND

    assert EMBEDDED_BACKEND == "local"


def test_self_instruct_rejects_a_task_copied_from_its_own_prompt(datagen_plugins) -> None:
    copied = (
        "Give me an example of a time when you had to use your sense of humour."  # cf. the classify prompt
    )
    add_scripted_backend(datagen_plugins, lambda r: f"1. {copied}")
    results = run_method(
        datagen_plugins, "self_instruct", SEEDS, 1, backend="scripted", options={"max_requests_per_record": 2}
    )
    assert len(results) == 0
    assert results.report.method_rejections["copied_prompt_example"] >= 1


@pytest.mark.parametrize(
    ("value", "output", "problem"),
    [
        ("The cat sat on the mat.", "The cat sat on the mat.", "output_copies_input"),
        ("The cat sat on the mat.", "the cat sat on the mat", "output_copies_input"),
        (None, "Translate this sentence into French.", "output_copies_instruction"),
        ("Paris", "Output: The capital is Paris.\nInput: Berlin", "prompt_scaffolding"),
        ("Task 3: name a river", "Danube", "prompt_scaffolding"),
        ("The cat sat on the mat.", "Le chat était assis sur le tapis.", None),
        (None, "Example: a river is a stream of water.", None),
    ],
)
def test_self_instruct_rejects_instances_that_copy_or_keep_the_prompts_labels(value, output, problem) -> None:
    from datagen_plugins.methods.self_instruct import instance_problem

    assert instance_problem("Translate this sentence into French.", value, output) == problem


def test_a_method_reaches_its_count_through_its_own_rejections(datagen_plugins) -> None:
    """A dialogue with an empty turn is rejected; the job is asked again with another sampling seed
    (counted as asked_again) until the count is reached, at most [generate] ask_again times."""
    seeds_seen: list[int | None] = []

    def respond(request: Request) -> str:
        seeds_seen.append(request.seed)
        first = (request.seed or 0) < 100_000  # a later attempt's seed is moved far from the first's
        return "" if first else "A fine answer about the topic."  # so every first attempt fails

    add_scripted_backend(datagen_plugins, respond)
    results = run_method(
        datagen_plugins, "conversation", ["Tell me about tea.", "Tell me about rivers."], 2,
        backend="scripted", options={"turns": 1},
    )  # fmt: skip
    assert len(results) == 2, seeds_seen
    assert results.report is not None and results.report.asked_again >= 2, seeds_seen
    assert (
        results.report.method_rejections.get("empty_assistant_turn", 0)
        + results.report.method_rejections.get("empty_user_turn", 0)
        >= 2
    )
    assert any((s or 0) >= 100_000 for s in seeds_seen)  # the later attempts carried another seed

    never: list[int | None] = []
    add_scripted_backend(datagen_plugins, lambda r: never.append(r.seed) or "", name="mute")
    short = run_method(datagen_plugins, "conversation", ["Hi."], 1, backend="mute", options={"turns": 1})
    assert len(short) == 0 and len(never) == 3  # the first attempt and ask_again (2) more, then it stops
