"""Magpie's pre-query templates derived from eleven families' published chat templates (the Jinja text
their tokenizer_config.json carries, in tests/data/chat_templates), against the pre-query templates
published for them (Magpie's model_configs.json; where a template writes a default system prompt, that
prompt belongs in it: magpie-align/magpie#28)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen import UsageError
from datagen_plugins.methods._chat_template import derive

TEMPLATES = Path(__file__).parent / "data" / "chat_templates"
LLAMA3 = {"bos": "<|begin_of_text|>", "eos": "<|eot_id|>"}
SENTENCEPIECE = {"bos": "<s>", "eos": "</s>"}
GEMMA = {"bos": "<bos>", "eos": "<eos>"}
QWEN = {"bos": "", "eos": "<|im_end|>"}

# family: (tokens, the published pre-query template, the end of a user turn, up to the assistant's reply)
PUBLISHED = {
    "llama3": (LLAMA3, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>",
               "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
    "llama3.1": (LLAMA3, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge "
                 "Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user"
                 "<|end_header_id|>\n\n", "<|eot_id|>",
                 "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
    "qwen2": (QWEN, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
              "<|im_end|>", "<|im_end|>\n<|im_start|>assistant\n"),
    "qwen2.5": (QWEN, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                "assistant.<|im_end|>\n<|im_start|>user\n", "<|im_end|>",
                "<|im_end|>\n<|im_start|>assistant\n"),
    "gemma2": (GEMMA, "<bos><start_of_turn>user\n", "<end_of_turn>", "<end_of_turn>\n<start_of_turn>model\n"),
    "gemma3": (GEMMA, "<bos><start_of_turn>user\n", "<end_of_turn>", "<end_of_turn>\n<start_of_turn>model\n"),
    "phi3": ({"bos": "<s>", "eos": "<|endoftext|>"}, "<|user|>\n", "<|end|>", "<|end|>\n<|assistant|>\n"),
    "mistral": (SENTENCEPIECE, "<s>[INST] ", "[/INST]", " [/INST]"),
    "llama2": (SENTENCEPIECE, "<s>[INST] ", "[/INST]", " [/INST]"),
    "zephyr": (SENTENCEPIECE, "<|user|>\n", "</s>", "</s>\n<|assistant|>\n"),
    "smollm2": (QWEN, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                "Face<|im_end|>\n<|im_start|>user\n", "<|im_end|>", "<|im_end|>\n<|im_start|>assistant\n"),
}  # fmt: skip


def template(family: str) -> str:
    return (TEMPLATES / f"{family}.jinja").read_text(encoding="utf-8").rstrip("\n")


@pytest.mark.parametrize("family", sorted(PUBLISHED))
def test_the_pre_query_template_is_derived_from_the_chat_template(family: str) -> None:
    tokens, published, user_end, to_assistant = PUBLISHED[family]
    parts = derive(template(family), **tokens)
    # the beginning-of-text token is cut off (the backend adds it when it tokenizes): not written twice
    assert parts.bos_removed + parts.pre_query == published
    assert not parts.pre_query.startswith(tokens["bos"] or "\x00")
    assert parts.user_end == user_end and parts.to_assistant == to_assistant
    kept = derive(template(family), **tokens, strip_bos=False)
    assert kept.pre_query == published and kept.bos_removed == ""


def test_a_system_prompt_for_topics_goes_where_the_template_puts_it() -> None:
    assert derive(template("gemma3"), **GEMMA, system="Questions about cooking.").pre_query == (
        "<start_of_turn>user\nQuestions about cooking.\n\n"
    )
    assert derive(template("qwen2.5"), **QWEN, system="Questions about cooking.").pre_query == (
        "<|im_start|>system\nQuestions about cooking.<|im_end|>\n<|im_start|>user\n"
    )
    with pytest.raises(UsageError, match="System role not supported"):
        derive(template("gemma2"), **GEMMA, system="Questions about cooking.")


def test_the_next_user_turn_is_derived_for_multi_turn_dialogues() -> None:
    parts = derive(template("llama3"), **LLAMA3)
    assert parts.to_next_user == "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    assert parts.assistant_end == "<|eot_id|>"
    gemma = derive(template("gemma3"), **GEMMA)
    assert gemma.to_next_user == "<end_of_turn>\n<start_of_turn>user\n"


# ------------------------------------------------------------------------------- the method, scripted

QUERIES = [
    "How do I keep basil alive on a windowsill through the winter?",
    "Sure, here is a short poem about the sea.",  # an answer, not a query
    "the",  # a fragment
    "Write a limerick about a cat who learns to play the piano.",
]


def completion_backend(pm, prompts: list[str], queries=QUERIES) -> None:
    """A completion backend playing a Gemma 3 model: it writes queries after a user turn's start and
    answers after the model turn's start."""
    from datagen._engine.llm import Request
    from datagen.testing import add_scripted_backend

    def respond(request: Request) -> str:
        prompts.append(request.prompt)
        if request.prompt.endswith("<start_of_turn>model\n"):
            return "Here is a careful answer with a few practical steps."
        return queries[request.seed % len(queries)]

    add_scripted_backend(pm, respond, chat=False)


def run_magpie(pm, count: int, **options):
    from datagen import Generator, load_config

    data = {"backend": {"name": "scripted"}, "cache": {"enabled": False}, "sampling": {"seed": 0}}
    gen = Generator(load_config(data=data, environ={}), plugins=pm)
    options = {"chat_template": str(TEMPLATES / "gemma3.jinja"), "bos_token": "<bos>", **options}
    return gen.run("magpie", [], count, **options)


def test_magpie_writes_queries_from_the_template_and_answers_them(datagen_plugins) -> None:
    prompts: list[str] = []
    completion_backend(datagen_plugins, prompts)
    results = run_magpie(datagen_plugins, 4)
    assert len(results) == 4
    assert {r.instruction for r in results} <= {QUERIES[0], QUERIES[3]}
    assert all(r.output == "Here is a careful answer with a few practical steps." for r in results)
    meta = results[0].metadata["magpie"]
    assert meta["template"].endswith("gemma3.jinja") and meta["pre_query_template"] == "<start_of_turn>user\n"
    assert meta["bos_removed"] == "<bos>"
    assert all(not p.startswith("<bos>") for p in prompts)  # the backend adds it: never two
    assert "<start_of_turn>user\n" in prompts and any(
        p.endswith("<end_of_turn>\n<start_of_turn>model\n") for p in prompts
    )
    details = results.report.method_details
    assert details["queries"] == details["well_formed"] + sum(details["malformed"].values())
    assert details["malformed"].get("answer", 0) + details["malformed"].get("fragment", 0) > 0
    assert 0 < details["well_formed_share"] < 1
    assert results.report.method_rejections["magpie_answer"] == details["malformed"]["answer"]


def test_magpie_dialogues_go_on_for_more_turns_and_system_prompts_steer_them(datagen_plugins) -> None:
    prompts: list[str] = []
    completion_backend(datagen_plugins, prompts, queries=[QUERIES[0], QUERIES[3]])
    results = run_magpie(
        datagen_plugins, 2, turns=2, system_prompts=["Gardening questions.", "Poetry requests."]
    )
    assert len(results) == 2
    for record in results:
        assert [m.role for m in record.messages] == ["user", "assistant", "user", "assistant"]
    assert {r.metadata["magpie"]["system_prompt"] for r in results} == {
        "Gardening questions.",
        "Poetry requests.",
    }
    second = [p for p in prompts if p.count("<start_of_turn>user\n") == 2 and p.endswith("user\n")]
    assert second and all("<end_of_turn>\n<start_of_turn>user\n" in p for p in second)
    assert any(p.startswith("<start_of_turn>user\nGardening questions.\n\n") for p in prompts)


def test_magpie_refuses_a_chat_only_backend(datagen_plugins) -> None:
    from datagen.testing import add_scripted_backend

    add_scripted_backend(datagen_plugins, lambda r: "x", chat=True)
    with pytest.raises(UsageError, match="magpie needs raw completions"):
        run_magpie(datagen_plugins, 1)


def test_magpie_asks_for_a_template_when_the_model_has_none(datagen_plugins) -> None:
    completion_backend(datagen_plugins, [])
    with pytest.raises(UsageError, match=r"\$\.method\.magpie\.chat_template: .* has no chat template"):
        run_magpie(datagen_plugins, 1, chat_template=None)


@pytest.mark.parametrize(
    ("text", "finish", "problem"),
    [
        ("", "stop", "empty"),
        ("How do I bake bread at", "length", "cut_off"),
        ("Certainly! The capital of France is Paris.", "stop", "answer"),
        ("the water", "stop", "fragment"),
        ("blue and green and red.", "stop", "fragment"),
        (
            "@test_data = data\n    @test_result = data.test_result\n    def test(self): assert x == '1'",
            "stop",
            "fragment",
        ),
        ("Quelle est la capitale de la France ?", "stop", None),
        ("Explain the difference between TCP and UDP.", "stop", None),
        (
            "I'm planning a trip to Japan in April and want to see cherry blossoms away from crowds.",
            "stop",
            None,
        ),
    ],
)
def test_well_formed_queries(text: str, finish: str, problem: str | None) -> None:
    from datagen_plugins.methods.magpie import query_problem

    assert query_problem(text, finish) == problem
