"""Personas: a persona file read in every format, its duplicates removed by the dedup plugins, every job
conditioned on one persona (in its prompt's ``persona`` variable or a request line), and the ``persona``
method making them from texts and from other personas."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen import Generator, load_config
from datagen._datamodel.personas import load_personas
from datagen._engine.llm import Request
from datagen.errors import ConfigError, UsageError
from datagen.testing import add_scripted_backend, request_text

PERSONAS = [
    "A retired marine biologist who volunteers at a coastal aquarium and writes letters to the paper.",
    "A high-school chemistry teacher who coaches the robotics club after lessons.",
    "A freelance translator of Japanese video games living in Lisbon with two cats.",
    "A night-shift nurse in a children's hospital who studies accounting online.",
    "A beekeeper in rural Ontario who sells honey at farmers' markets every Saturday.",
    "A structural engineer who inspects old railway bridges across northern England.",
]


def write_txt(path: Path, personas: list[str]) -> Path:
    path.write_text("\n".join(personas) + "\n", encoding="utf-8")
    return path


_NAMES = (f"scripted{i}" for i in range(1_000_000))


def generator(pm, respond, *, chat: bool = True, **config) -> Generator:
    name = next(_NAMES)  # one backend per generator: a test may make several
    add_scripted_backend(pm, respond, chat=chat, name=name)
    data = {"backend": {"name": name}, "cache": {"enabled": False}, **config}
    return Generator(load_config(data=data, environ={}), plugins=pm)


# ------------------------------------------------------------------------------------------- the file


def test_a_persona_file_is_read_in_every_format(tmp_path: Path) -> None:
    txt = write_txt(tmp_path / "p.txt", ["", *PERSONAS[:2], "   "])
    assert load_personas(txt) == PERSONAS[:2]
    jsonl = tmp_path / "p.jsonl"
    rows = [{"persona": PERSONAS[0]}, {"input persona": PERSONAS[1]}, {"metadata": {"persona": PERSONAS[2]}}]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert load_personas(jsonl) == PERSONAS[:3]  # Persona Hub's columns and datagen's own records
    csv = tmp_path / "p.csv"
    csv.write_text('who,id\n"' + PERSONAS[3] + '",1\n')
    assert load_personas(csv, "who") == [PERSONAS[3]]
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"persona": PERSONAS[4:]}), parquet)
    assert load_personas(parquet) == PERSONAS[4:]


def test_a_bad_persona_file_is_an_error_naming_the_file_and_line(tmp_path: Path) -> None:
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"persona": PERSONAS[0]}) + "\n" + json.dumps({"name": "Ann"}) + "\n")
    with pytest.raises(UsageError, match=r"p\.jsonl:2: no persona in the row"):
        load_personas(jsonl)
    with pytest.raises(UsageError, match="persona file not found"):
        load_personas(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UsageError, match="holds no persona"):
        load_personas(tmp_path / "empty.txt")
    (tmp_path / "p.xml").write_text("<p/>")
    with pytest.raises(UsageError, match="unsupported persona file type"):
        load_personas(tmp_path / "p.xml")


def test_bad_persona_settings_are_refused_before_any_request(datagen_plugins, tmp_path: Path) -> None:
    sent: list[Request] = []
    gen = generator(
        datagen_plugins,
        lambda r: sent.append(r) or "x",
        generate={"personas": str(tmp_path / "nowhere.txt")},
    )
    with pytest.raises(UsageError, match=r"nowhere\.txt: persona file not found"):
        gen.run("template", [], 1, template="Write about {x}", variables={"x": ["a"]}, complete=True)
    gen = generator(
        datagen_plugins,
        lambda r: sent.append(r) or "x",
        generate={"personas": str(write_txt(tmp_path / "p.txt", PERSONAS)), "persona_dedup": ["no_such"]},
    )
    with pytest.raises(
        ConfigError, match=r"\$\.generate\.persona_dedup\[0\]: no filter plugin named 'no_such'"
    ):
        gen.run("template", [], 1, template="Write about {x}", variables={"x": ["a"]}, complete=True)
    assert sent == []


# ------------------------------------------------------------------------------------------ dedup


def test_planted_copies_of_personas_are_removed_by_the_dedup_plugins(datagen_plugins, tmp_path: Path) -> None:
    planted = [
        PERSONAS[1],  # verbatim
        PERSONAS[2].upper(),  # case
        PERSONAS[3].replace("online.", "online!"),  # punctuation
        PERSONAS[4].replace("every Saturday", "each Saturday"),  # one word changed
        "  " + PERSONAS[5].replace("across", "all across") + " ",  # a word added
    ]
    path = write_txt(tmp_path / "p.txt", [*PERSONAS, *planted])
    seen: list[str] = []

    def respond(request: Request) -> str:
        seen.append(request_text(request))
        return "An answer."

    gen = generator(datagen_plugins, respond, generate={"personas": str(path)})
    results = gen.run(
        "template", [], 12, template="Write about {x}", variables={"x": list("abcdefghijkl")}, complete=True
    )
    report = results.report.personas
    assert report["loaded"] == 11 and report["duplicates_removed"] == 5 and report["used"] == 6
    assert {r.metadata["persona"] for r in results} == set(PERSONAS)  # the first of each kept
    without = generator(datagen_plugins, respond, generate={"personas": str(path), "persona_dedup": []})
    results = without.run(
        "template", [], 11, template="Write about {x}", variables={"x": list("abcdefghijk")}, complete=True
    )
    # every line used; the verbatim copy is the same persona as its original
    assert results.report.personas["duplicates_removed"] == 0 and results.report.personas["used"] == 10


# ------------------------------------------------------------------------------------ conditioning


def test_every_job_gets_one_persona_in_turn_and_its_record_names_it(datagen_plugins, tmp_path: Path) -> None:
    requests: list[Request] = []

    def respond(request: Request) -> str:
        requests.append(request)
        return "A short text."

    path = write_txt(tmp_path / "p.txt", PERSONAS[:3])
    gen = generator(datagen_plugins, respond, generate={"personas": str(path)})
    results = gen.run(
        "template", [], 6, template="Write about {x}", variables={"x": list("abcdef")}, complete=True
    )
    assert len(results) == 6
    counts = collections.Counter(r.metadata["persona"] for r in results)
    assert counts == dict.fromkeys(PERSONAS[:3], 2)  # in turn: each persona as often as the others
    for request in requests:
        system = request.messages[0]
        assert system.role == "system" and system.content.startswith("Persona: ")
        assert sum(p in system.content for p in PERSONAS[:3]) == 1
    by_instruction = {r.instruction: r.metadata["persona"] for r in results}
    for request in requests:  # the record names the persona its request was given
        assert by_instruction[_instruction(request)] in request.messages[0].content
    again = gen.run(
        "template", [], 6, template="Write about {x}", variables={"x": list("abcdef")}, complete=True
    )
    assert {(r.id, r.metadata["persona"]) for r in again} == {(r.id, r.metadata["persona"]) for r in results}
    plain = generator(datagen_plugins, respond).run(
        "template", [], 6, template="Write about {x}", variables={"x": list("abcdef")}, complete=True
    )
    assert not {r.id for r in plain} & {r.id for r in results}  # another persona, another record


def _instruction(request: Request) -> str:
    text = request.messages[-1].content
    return next(line for line in text.splitlines() if line.startswith("Write about"))


def test_a_prompt_that_places_the_persona_gets_no_extra_line(datagen_plugins, tmp_path: Path) -> None:
    requests: list[Request] = []
    gen = generator(
        datagen_plugins,
        lambda r: requests.append(r) or "A short text.",
        generate={"personas": str(write_txt(tmp_path / "p.txt", PERSONAS[:2]))},
    )
    results = gen.run(
        "template",
        [],
        2,
        template="Write about {x}",
        variables={"x": ["a", "b"]},
        complete=True,
        prompts={"complete_chat": "You are {{ persona }}\n{{ text }}"},
    )
    assert len(results) == 2
    for request in requests:
        assert [m.role for m in request.messages] == ["user"]
        assert request.messages[0].content.startswith("You are A ")


def test_the_template_method_places_the_persona_where_its_template_says(datagen_plugins, tmp_path) -> None:
    requests: list[Request] = []
    template = "Write a question {{ persona or 'a person' }} might ask about {{ topic }}."
    options = {"template": template, "variables": {"topic": ["tax", "bees"]}, "complete": True}
    path = write_txt(tmp_path / "p.txt", PERSONAS[:2])
    with_personas = generator(
        datagen_plugins, lambda r: requests.append(r) or "Why?", generate={"personas": str(path)}
    )
    results = with_personas.run("template", [], 2, **options)
    assert {r.instruction.split(" might ask")[0].removeprefix("Write a question ") for r in results} == set(
        PERSONAS[:2]
    )
    assert all(len(r.messages) == 1 for r in requests)  # placed by the template: no extra line
    plain = generator(datagen_plugins, lambda r: "Why?").run("template", [], 2, **options)
    assert all(r.instruction.startswith("Write a question a person might ask") for r in plain)
    strict = {**options, "template": "Write a question {{ persona }} might ask about {{ topic }}."}
    with pytest.raises(UsageError, match="it uses persona, but the run has no personas"):
        generator(datagen_plugins, lambda r: "Why?").run("template", [], 2, **strict)


def test_a_base_model_gets_the_persona_before_its_prompt(datagen_plugins, tmp_path: Path) -> None:
    prompts: list[str] = []
    gen = generator(
        datagen_plugins,
        lambda r: prompts.append(r.prompt) or "A short text.",
        chat=False,
        generate={"personas": str(write_txt(tmp_path / "p.txt", PERSONAS[:1]))},
    )
    gen.run("template", [], 1, template="Write about {x}", variables={"x": ["a"]}, complete=True)
    assert prompts and prompts[0].startswith(f"Persona: {PERSONAS[0]}\n\n")


def test_a_bootstrapping_method_gives_each_round_one_persona(datagen_plugins, tmp_path: Path) -> None:
    requests: list[Request] = []
    words = iter(f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "so", "tu") for b in range(10_000))

    def respond(request: Request) -> str:
        requests.append(request)
        if "Task" in request_text(request) or "task" in request_text(request):  # distinct new tasks
            return "\n".join(
                f"{i}. Explain " + " ".join(next(words) for _ in range(8)) + "." for i in range(1, 4)
            )
        return "An answer."

    gen = generator(
        datagen_plugins, respond, generate={"personas": str(write_txt(tmp_path / "p.txt", PERSONAS[:3]))}
    )
    results = gen.run("self_instruct", ["Write a haiku about rain.", "Name three rivers."], 6)
    assert len(results) == 6
    for record in results:
        assert record.metadata["persona"] in PERSONAS[:3]
    assert all("Persona: " in request_text(r) for r in requests)


# -------------------------------------------------------------------------------------- the method


def test_personas_are_made_from_texts_and_bad_answers_are_dropped(datagen_plugins, tmp_path: Path) -> None:
    def respond(request: Request) -> str:
        text = request_text(request)
        if "bees" in text:
            return "A person." if request.seed % 2 else "What do bees eat in the winter months?"
        if "bridge" in text:
            return (
                'Persona: "A structural engineer who inspects old railway bridges and writes safety reports."'
            )
        return "- An amateur astronomer who photographs comets from a backyard observatory."

    gen = generator(datagen_plugins, respond)
    seeds = ["The bees swarmed at noon.", "The bridge needs new rivets.", "Comet C/2023 is visible at dawn."]
    results = gen.run("persona", seeds, 3)
    personas = sorted(r.output for r in results)
    assert (
        personas
        == [
            "A structural engineer who inspects old railway bridges and writes safety reports.",
            "An amateur astronomer who photographs comets from a backyard observatory.",
        ]
        or len(personas) == 3
    )  # the third job may reach "bridge" or "comet" seeds again after the drop
    for record in results:
        assert record.metadata["persona"] == record.output
        assert record.provenance.parent_id == record.metadata["persona_source"]
    assert results.report.method_rejections["too_short"] >= 1  # and a question is no persona either
    assert results.report.method_rejections["a_question"] >= 1
    out = tmp_path / "personas.jsonl"
    results.save(out)
    assert set(load_personas(out)) == {r.output for r in results}  # a run reads the method's output


def test_personas_are_expanded_through_their_relations(datagen_plugins, tmp_path: Path) -> None:
    def respond(request: Request) -> str:
        text = request_text(request)
        source = next(p for p in PERSONAS[:2] if p in text)
        relation = "colleague" if "a colleague" in text else "neighbour"
        job = " ".join(source.split()[1:3])
        return f"A {relation} of the {job} who keeps a detailed diary of their day."

    path = write_txt(tmp_path / "p.txt", PERSONAS[:2])
    gen = generator(datagen_plugins, respond, generate={"personas": str(path)})
    results = gen.run("persona", [], 4, mode="expand", relations=["a colleague", "a neighbour"])
    assert len(results) == 4
    pairs = {(r.metadata["expanded_from"], r.metadata["relation"]) for r in results}
    assert pairs == {(p, rel) for p in PERSONAS[:2] for rel in ("a colleague", "a neighbour")}
    assert all(r.metadata["persona"] == r.output and r.output not in PERSONAS for r in results)


def test_the_persona_method_refuses_a_mismatched_persona_setting(datagen_plugins, tmp_path: Path) -> None:
    gen = generator(datagen_plugins, lambda r: "x")
    with pytest.raises(UsageError, match="mode 'expand' expands the run's personas"):
        gen.run("persona", [], 2, mode="expand")
    with pytest.raises(UsageError, match="is not one of from_text, expand"):
        gen.run("persona", ["A text."], 2, mode="sideways")
    path = write_txt(tmp_path / "p.txt", PERSONAS[:2])
    gen = generator(datagen_plugins, lambda r: "x", generate={"personas": str(path)})
    with pytest.raises(UsageError, match="mode 'from_text' makes personas from seed texts"):
        gen.run("persona", ["A text."], 2)


# ------------------------------------------------------------------------------------ pipeline files


def test_pipeline_steps_make_personas_and_write_for_them(datagen_plugins, tmp_path: Path) -> None:
    from datagen import Pipeline

    requests: list[Request] = []

    def respond(request: Request) -> str:
        requests.append(request)
        if "Who is likely to read" in request_text(request):
            return "A structural engineer who inspects old railway bridges and writes safety reports."
        return "A careful answer."

    name = next(_NAMES)
    add_scripted_backend(datagen_plugins, respond, name=name)
    (tmp_path / "texts.csv").write_text("text\nThe bridge needs new rivets.\nThe bees swarmed at noon.\n")
    write_txt(tmp_path / "p.txt", PERSONAS[:2])
    data = {
        "sources": {"t": {"path": "texts.csv", "columns": {"text": "instruction"}}},
        "steps": [
            {"name": "who", "method": "persona"},
            {"name": "answers", "method": "respond", "personas": "p.txt"},
        ],
    }
    pipeline = Pipeline.from_dict(data, base=tmp_path, plugins=datagen_plugins, backend=name)
    rows = pipeline.run(tmp_path / "out").rows()
    assert len(rows) == 2
    assert all(r["persona"] in PERSONAS[:2] for r in rows)  # the answers' personas, from the step's file
    answering = [r for r in requests if "Who is likely to read" not in request_text(r)]
    assert answering and all(r.messages[0].content.startswith("Persona: ") for r in answering)

    data["steps"][1]["personas"] = "missing.txt"
    with pytest.raises(ConfigError, match=r"steps\[1\]\.personas: .*missing\.txt: persona file not found"):
        Pipeline.from_dict(data, base=tmp_path, plugins=datagen_plugins, backend=name).run(tmp_path / "o2")


@pytest.mark.parametrize("method", ["magpie", "translate"])
def test_methods_whose_prompt_a_persona_would_break_refuse_personas(
    datagen_plugins, tmp_path, method
) -> None:
    gen = generator(
        datagen_plugins, lambda r: "x", generate={"personas": str(write_txt(tmp_path / "p.txt", PERSONAS))}
    )
    options = {"language": "fr"} if method == "translate" else {}
    with pytest.raises(UsageError, match="persona"):
        gen.run(method, ["Write a haiku."], 1, **options)
