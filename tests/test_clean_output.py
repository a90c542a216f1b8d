"""The embedded model's output is clean: no special tokens, and looping answers are counted, not kept."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from datagen._datamodel.records import Usage
from datagen._engine.llm import Request, Response
from datagen._text.repetition import degenerate
from datagen.testing import add_scripted_backend, request_text, run_method
from datagen_plugins.backends.local import END_OF_TURN, SPECIAL_TOKEN, LocalBackend, LocalConfig


def test_a_line_repeated_until_the_limit_is_degenerate() -> None:
    looping = "Famous founders:\n- Musk\n- Musk\n- Musk\n- Musk\n- Musk"
    assert degenerate(looping, "length") == "repeated_line"
    assert degenerate(looping, "stop") is None  # it stopped by itself: a list may repeat on purpose
    phrase = "and then the cat sat " * 12
    assert degenerate(phrase, "length") == "repeated_phrase"


@given(
    st.lists(
        st.sampled_from("the quick brown fox jumps over lazy dogs while birds sing".split()), max_size=60
    )
)
def test_ordinary_text_is_not_degenerate(words: list[str]) -> None:
    text = " ".join(dict.fromkeys(words))  # no word twice: nothing can repeat
    assert degenerate(text, "length") is None


def test_looping_answers_are_dropped_with_a_counted_reason(datagen_plugins) -> None:
    def responder(request: Request) -> str | Response:
        if "founder" in request_text(request):
            return Response("- Musk\n" * 40, "length", Usage(10, 80, 0.0), "scripted-1")
        return "Blue."

    add_scripted_backend(datagen_plugins, responder)
    results = run_method(
        datagen_plugins,
        "respond",
        ["Name a founder.", "Name a colour."],
        2,
        backend="scripted",
    )
    assert [r.output for r in results] == ["Blue."]
    assert results.report.method_rejections == {"degenerate_repeated_line": 3}  # asked 3 times, then dropped


@pytest.mark.parametrize(
    "token", ["<start_of_image>", "<end_of_turn>", "<eos>", "<unused12>", "<|im_end|>", "</s>", "<pad>"]
)
def test_special_tokens_never_reach_a_record(token: str) -> None:
    assert SPECIAL_TOKEN.sub("", f"A calm{token} sea.") == "A calm sea."
    assert SPECIAL_TOKEN.sub("", "a <b>bold</b> claim, 3 < 4 > 2") == "a <b>bold</b> claim, 3 < 4 > 2"


def test_the_local_backend_stops_at_the_end_of_a_turn() -> None:
    backend = LocalBackend(LocalConfig())
    body = backend._body(Request(prompt="Hi", stop=("###",)))
    assert body["stop"][0] == "###" and set(END_OF_TURN) <= set(body["stop"])


@pytest.mark.parametrize("method", ["pretraining", "conversation", "evol_instruct", "paraphrase"])
def test_every_method_asks_again_after_a_looping_answer(datagen_plugins, method: str) -> None:
    seen: set[tuple[str, int | None]] = set()

    def responder(request: Request) -> Response:  # each prompt's first sample loops, the next does not
        prompt = request_text(request)
        if not any(p == prompt for p, _ in seen):
            seen.add((prompt, request.seed))
            return Response("Tea is good.\n" * 30, "length", Usage(10, 80, 0.0), "scripted-1")
        assert (prompt, request.seed) not in seen, "asked again with the same sampling seed"
        good = (
            "Green tea from Japan is mellow and grassy, steamed soon after picking, "
            "then rolled, dried and sorted by leaf grade."
        )
        return Response(good, "stop", Usage(10, 20, 0.0), "scripted-1")

    add_scripted_backend(datagen_plugins, responder)
    options = {"target_words": 20} if method == "pretraining" else {}  # the answer's length fits
    results = run_method(datagen_plugins, method, ["Describe tea."], 1, backend="scripted", options=options)
    assert len(results) == 1
    assert results.report.asked_again >= 1
    assert results.report.method_rejections.get("degenerate_repeated_line", 0) == results.report.asked_again
    assert "asked again" in results.report.summary()


def test_asking_again_can_be_switched_off(datagen_plugins) -> None:
    def responder(request: Request) -> Response:
        return Response("Tea is good.\n" * 30, "length", Usage(10, 80, 0.0), "scripted-1")

    add_scripted_backend(datagen_plugins, responder)
    results = run_method(
        datagen_plugins,
        "pretraining",
        ["Describe tea."],
        1,
        backend="scripted",
        config={"generate": {"ask_again": 0}},
    )
    assert len(results) == 0 and results.report.asked_again == 0
    assert results.report.method_rejections == {"degenerate_repeated_line": 1}
