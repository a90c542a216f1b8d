"""Pipeline files: the schema's errors with line and column, the order from references, runs with a
checkpoint per step and row group, resume after ``kill -9``, edits that recompute only what follows,
the rejects table, plan against the actual run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from datagen import Pipeline
from datagen.errors import ConfigError
from datagen.testing_server import Behaviour, LoopbackServer

REVIEWS = """\
name: reviews
rows: {rows}
row_group: {group}
seed: 3
models:
  writer: {{backend: echo, max_tokens: 64}}
steps:
  - name: product
    sampler: category
    values: [kettle, laptop, bicycle]
    weights: [1, 2, 1]
  - name: rating
    sampler: integer
    low: 1
    high: 5
  - name: instruction
    template: "Write a {{{{ rating }}}}-star review of a {{{{ product }}}}."
  - name: output
    llm: text
    model: writer
    prompt: "{{{{ instruction }}}}"
  - name: positive
    keep: "rating >= {keep}"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def reviews(tmp_path: Path, rows: int = 12, group: int = 5, keep: int = 2) -> Path:
    return write(tmp_path / "reviews.yaml", REVIEWS.format(rows=rows, group=group, keep=keep))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------ the schema


def test_every_problem_at_once_with_line_and_column(tmp_path: Path, cli) -> None:
    bad = write(
        tmp_path / "bad.yaml",
        """\
name: bad
rows: 10
colour: blue
models:
  writer: {backend: nosuch}
steps:
  - name: a
    llm: text
    model: judge
    prompt: "About {{ topic }}"
  - filter: lenght
  - filter: length
    options: {response_min_length: "x"}
  - name: x
    sampler: gaussian
requires: ["datagen-nonexistent>=1"]
""",
    )
    result = cli("validate", str(bad))
    assert result.code == 2
    found = [line.strip() for line in result.err.splitlines()[1:]]
    assert found == [
        f"{bad}:3:1: $.colour: unknown key (known: config, description, metrics, models, name, output, "
        "requires, row_group, rows, seed, sources, steps)",
        f"{bad}:5:12: $.models.writer.backend: no backend plugin named 'nosuch' (registered: anthropic, "
        "echo, litellm, local, openai)",
        f"{bad}:9:5: $.steps[0].model: no model named 'judge' under models (named: writer)",
        f"{bad}:10:5: $.steps[0].prompt: {{{{ topic }}}} names no column (columns: a)",
        f"{bad}:11:5: $.steps[1].filter: no filter plugin named 'lenght' (registered: "
        + result.err.split("(registered: ")[-1].split(")")[0]
        + ")",
        f"{bad}:13:15: $.steps[2].options.response_min_length: expected int, got 'x'",
        f"{bad}:15:5: $.steps[3].sampler: expected one of category, uniform, integer, list, person, "
        "got 'gaussian'",
        f"{bad}:16:12: $.requires[0]: datagen-nonexistent is not installed: pip install "
        "'datagen-nonexistent>=1'",
    ]
    assert "length" in found[4] and "near_dedup" in found[4]  # every installed filter is named


def test_toml_errors_name_the_line_of_an_array_of_tables_item(tmp_path: Path, cli) -> None:
    bad = write(
        tmp_path / "bad.toml",
        'rows = 3\n\n[[steps]]\nname = "a"\nsampler = "integer"\nlow = 1\nhigh = 2\n\n'
        '[[steps]]\nfilter = "length"\n\n[steps.options]\nresponse_min_length = "x"\n',
    )
    result = cli("validate", str(bad))
    assert result.code == 2
    assert f"{bad}:13:1: $.steps[1].options.response_min_length: expected int, got 'x'" in result.err


def test_a_cycle_through_a_condition_is_named(tmp_path: Path) -> None:
    """``a`` needs ``c``, written below a condition that runs after ``a``: no order exists."""
    path = write(
        tmp_path / "cycle.yaml",
        "rows: 2\nsteps:\n  - {name: a, template: '{{ c }}'}\n  - {name: gate, keep: 'a != \"\"'}\n"
        "  - {name: c, sampler: integer, low: 1, high: 2}\n",
    )
    with pytest.raises(ConfigError, match=r"cycle: a -> c -> gate -> a"):
        Pipeline.from_file(path).validate()


def test_the_order_follows_references_and_conditions_keep_their_place(tmp_path: Path) -> None:
    path = write(
        tmp_path / "order.yaml",
        "rows: 2\nsteps:\n"
        "  - {name: sentence, template: '{{ colour }} {{ noun }}'}\n"
        "  - {name: noun, sampler: category, values: [cat, dog]}\n"
        "  - {name: short, keep: 'sentence | length < 50'}\n"
        "  - {name: colour, sampler: category, values: [red]}\n",
    )
    # colour is written below the condition: it may not move above it, so sentence cannot use it
    with pytest.raises(ConfigError, match="cycle"):
        Pipeline.from_file(path).validate()
    path.write_text(path.read_text().replace("  - {name: short, keep: 'sentence | length < 50'}\n", ""))
    path.write_text(path.read_text() + "  - {name: short, keep: 'sentence | length < 50'}\n")
    assert Pipeline.from_file(path).validate() == ["noun", "colour", "sentence", "short"]


def test_validate_loads_only_the_plugins_the_file_names(tmp_path: Path) -> None:
    path = reviews(tmp_path)
    code = (
        "import sys\nfrom datagen._app.cli import main\n"
        f"try:\n    main(['validate', {str(path)!r}])\nexcept SystemExit as e:\n    assert not e.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('datagen_plugins.') and m.count('.') > 1"
        " and not m.endswith('_command')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "['datagen_plugins.backends.echo']"


# ------------------------------------------------------------------------------------------------ runs


def test_a_run_writes_data_rejects_and_report(tmp_path: Path, cli) -> None:
    result = cli("run", str(reviews(tmp_path)), "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    data, rejects = lines(tmp_path / "out" / "data.jsonl"), lines(tmp_path / "out" / "rejects.jsonl")
    assert len(data) + len(rejects) == 12 and len({r["id"] for r in data + rejects}) == 12
    assert all(r["rating"] >= 2 and r["output"] == "echo: " + r["instruction"] for r in data)
    assert {(r["step"], r["reason"]) for r in rejects} == {("positive", "keep:positive")}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["written"] == len(data) and report["removed"] == len(rejects)
    assert [s["name"] for s in report["steps"]] == ["product", "rating", "instruction", "output", "positive"]
    assert report["outputs"][0] == str(tmp_path / "out" / "data.jsonl")
    assert {"requests", "input_tokens", "output_tokens", "cost_usd", "seconds"} <= set(report)


def test_an_edit_recomputes_that_step_and_what_follows_only(tmp_path: Path) -> None:
    path, out = reviews(tmp_path), tmp_path / "out"
    first = Pipeline.from_file(path).run(out).report
    assert all(s["groups_computed"] == 3 for s in first["steps"])
    path.write_text(path.read_text().replace("rating >= 2", "rating >= 4"))
    second = Pipeline.from_file(path).run(out).report
    resumed = {s["name"]: (s["groups_resumed"], s["groups_computed"]) for s in second["steps"]}
    assert resumed == {
        "product": (3, 0),
        "rating": (3, 0),
        "instruction": (3, 0),
        "output": (3, 0),
        "positive": (0, 3),
    }
    assert second["requests"] == 0 and second["written"] <= first["written"]
    assert all(r["rating"] >= 4 for r in lines(out / "data.jsonl"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(group=st.integers(min_value=1, max_value=25))
def test_any_row_group_size_gives_the_same_rows(tmp_path: Path, group: int) -> None:
    folder = tmp_path / f"g{group}"
    folder.mkdir(exist_ok=True)
    baseline = Pipeline.from_file(reviews(folder, rows=23, group=23)).preview(23).rows
    assert Pipeline.from_file(reviews(folder, rows=23, group=group)).preview(23).rows == baseline


def test_sources_keep_and_rename_columns_and_a_judge_scores_each_aspect(tmp_path: Path) -> None:
    (tmp_path / "questions.csv").write_text(
        "question,topic\nWhat is rain?,weather\nWhy is snow white?,weather\n"
    )
    path = write(
        tmp_path / "judge.yaml",
        "sources:\n  q: {path: questions.csv, columns: {question: instruction}}\n"
        "steps:\n  - {name: output, llm: text, prompt: 'Answer: {{ instruction }}'}\n"
        "  - {name: rating, llm: judge, rubric: [helpfulness, honesty], scale: [1, 5],"
        " prompt: 'Q: {{ instruction }} A: {{ output }}'}\n",
    )
    with LoopbackServer() as srv:
        done = Pipeline.from_file(path, base_url=srv.url + "/v1").run(tmp_path / "out")
    rows = done.rows()
    assert [r["id"] for r in rows] == ["q-000000", "q-000001"] and "topic" not in rows[0]
    for row in rows:
        assert set(row["rating"]) == {"helpfulness", "honesty"}
        assert all(1 <= v["score"] <= 5 and isinstance(v["rationale"], str) for v in row["rating"].values())


def test_a_stage_plugin_runs_on_the_rows_by_its_name(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dedup.yaml",
        "rows: 30\nsteps:\n  - {name: instruction, sampler: category, values: [a b c, d e f]}\n"
        "  - {name: output, template: 'answer to {{ instruction }}'}\n  - {filter: exact_dedup}\n",
    )
    outcome = Pipeline.from_file(path).preview(30)
    assert sorted(r["instruction"] for r in outcome.rows) == ["a b c", "d e f"]
    assert {r["reason"] for r in outcome.rejects} == {"duplicate"} and len(outcome.rejects) == 28


def test_a_dedup_filter_remembers_the_rows_of_resumed_groups(tmp_path: Path) -> None:
    """A resumed run shows the groups from checkpoints to the dedup filter again: a duplicate of a row
    in a finished group is still caught in a group computed after the resume."""
    text = (
        "rows: 20\nrow_group: 5\nsteps:\n  - {name: instruction, sampler: category, values: [a, b, c]}\n"
        "  - {name: output, template: 'x {{ instruction }}'}\n  - {filter: exact_dedup}\n"
    )
    path, out = write(tmp_path / "p.yaml", text), tmp_path / "out"
    Pipeline.from_file(path).run(out)
    whole = lines(out / "data.jsonl")
    for stale in (out / ".checkpoints").glob("02-exact_dedup/00000[2-3].*"):
        stale.unlink()  # as if the run had died before the last two groups reached the filter
    again = Pipeline.from_file(path).run(out)
    assert lines(out / "data.jsonl") == whole and len(whole) == 3
    assert again.report["steps"][2]["groups_computed"] == 2


def test_plan_is_within_a_quarter_of_the_run(tmp_path: Path) -> None:
    path = write(
        tmp_path / "plan.yaml",
        "rows: 60\nrow_group: 20\nsteps:\n"
        "  - {name: topic, sampler: category, values: [rain, snow, wind, sun]}\n"
        "  - {name: n, sampler: integer, low: 1, high: 9}\n"
        "  - {name: instruction, llm: text, prompt: 'Ask question {{ n }} about {{ topic }}.'}\n"
        "  - {name: odd, keep: 'n % 2 == 1'}\n"
        "  - {name: output, llm: text, prompt: 'Answer: {{ instruction }}'}\n",
    )
    with LoopbackServer() as srv:
        plan = Pipeline.from_file(path, base_url=srv.url + "/v1").plan(10)
        actual = Pipeline.from_file(path, base_url=srv.url + "/v1", config={"cache": {"enabled": False}}).run(
            tmp_path / "out"
        )
    for key in ("requests", "input_tokens", "output_tokens"):
        assert abs(plan[key] - actual.report[key]) <= 0.25 * actual.report[key], (key, plan, actual.report)


@pytest.mark.parametrize(
    ("engine", "charge"),
    [
        ({"requests_per_minute": 600}, None),
        ({"tokens_per_minute": 600_000, "token_charge": "reserved"}, "reserved"),
        ({"tokens_per_minute": 60_000, "token_charge": "used"}, "used"),
    ],
    ids=["requests", "tokens-reserved", "tokens-used"],
)
def test_plan_holds_its_seconds_to_a_configured_rate_limit(
    tmp_path: Path, engine: dict[str, Any], charge: str | None
) -> None:
    """6,000 rows at 600 requests a minute take at least ten minutes, however fast the server answers
    (the plan said 42-60 s); under a token limit, the tokens as the engine charges them: each request's
    prompt and max_tokens (256), or what the answers used."""
    path = write(
        tmp_path / "rate.yaml",
        "rows: 6000\nrow_group: 500\nsteps:\n"
        "  - {name: n, sampler: integer, low: 1, high: 9}\n"
        "  - {name: output, llm: text, prompt: 'Say {{ n }}.'}\n",
    )
    with LoopbackServer() as srv:
        plan = Pipeline.from_file(path, base_url=srv.url + "/v1", config={"engine": engine}).plan(5)
    [llm] = [s for s in plan["steps"] if s["name"] == "output"]
    if charge is None:
        least = llm["requests"] / 10  # a second per 10 requests
    elif charge == "reserved":
        least = (llm["input_tokens"] + llm["requests"] * 256) / (engine["tokens_per_minute"] / 60)
    else:
        least = (llm["input_tokens"] + llm["output_tokens"]) / (engine["tokens_per_minute"] / 60)
    assert least > 5 and abs(llm["seconds"] - least) <= 1 and plan["seconds"] >= llm["seconds"]
    assert llm["limited_by"] == ("requests_per_minute" if charge is None else "tokens_per_minute")
    assert [s["limited_by"] for s in plan["steps"] if s["name"] != "output"] == [None]  # the sampler


def test_datagen_plan_shows_the_rate_limit_a_steps_seconds_are_held_to(cli, tmp_path: Path) -> None:
    path = write(
        tmp_path / "rate.yaml",
        "rows: 600\nconfig:\n  engine: {requests_per_minute: 600}\nsteps:\n"
        "  - {name: output, llm: text, prompt: 'Say {{ id }}.'}\n",
    )
    with LoopbackServer() as srv:
        done = cli("plan", str(path), "-n", "3", "--base-url", srv.url + "/v1")
    assert done.code == 0, done.err
    assert "60 (rpm)" in done.out and "held to [engine] requests_per_minute (rpm)" in done.out


def test_kill_9_at_three_moments_loses_and_repeats_no_row(tmp_path: Path) -> None:
    rows, group = 120, 10
    path = write(
        tmp_path / "k.yaml",
        f"rows: {rows}\nrow_group: {group}\nsteps:\n"
        "  - {name: n, sampler: integer, low: 1, high: 1000000}\n"
        "  - {name: output, llm: text, prompt: 'Say {{ n }} {{ id }}.'}\n",
    )
    out = tmp_path / "out"
    with LoopbackServer(Behaviour(latency_s=0.02)) as srv:
        cmd = [
            sys.executable,
            "-m",
            "datagen._app.cli",
            "run",
            str(path),
            "-o",
            str(out),
            "--base-url",
            srv.url + "/v1",
        ]
        for fraction in (0.25, 0.5, 0.75):
            proc = subprocess.Popen(cmd, cwd=tmp_path, env=os.environ.copy(), stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while sum(srv.answered.values()) < rows * fraction and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert not (out / "data.jsonl").exists()
        sent_before, answered_before = sum(srv.received.values()), sum(srv.answered.values())
        final = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert final.returncode == 0, final.stderr
        data = lines(out / "data.jsonl")
        assert len(data) == rows and len({r["id"] for r in data}) == rows
        assert all(r["output"].strip() for r in data)
        # everything answered before a kill is reused, from a checkpoint or from the response cache:
        # each of the three kills costs at most the requests of the row group in flight
        assert sum(srv.received.values()) <= rows + 3 * group
        assert sent_before >= answered_before >= rows * 0.75
        assert "groups from checkpoints" in final.stderr


def test_the_reference_page_is_generated_from_the_schema() -> None:
    from datagen._app.pipefile.spec import reference
    from tests.conftest import REPO

    page = (REPO / "docs" / "pipelines.md").read_text()
    start = page.index("\n\n", page.index("<!-- generated from")) + 2
    assert page[start : page.index("\n<!-- end of the generated reference -->")] == reference()
    assert "|  |" not in reference()  # every key says what it is


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "pipelines"


@pytest.mark.parametrize("name", ["instructions_scrubbed.yaml", "product_reviews.yaml"])
def test_the_example_pipelines_run_against_a_loopback_server(tmp_path: Path, name: str) -> None:
    with LoopbackServer() as srv:
        done = Pipeline.from_file(EXAMPLES / name, base_url=srv.url + "/v1").run(tmp_path / "out")
        assert sum(srv.received.values()) == done.report["requests"] > 0  # every request went there
    report = done.report
    assert report["written"] > 0 and report["written"] + report["removed"] == report["rows"]
    rows = done.rows()
    assert len({r["id"] for r in rows}) == len(rows) and all((r.get("output") or "").strip() for r in rows)
    if name == "instructions_scrubbed.yaml":
        assert [s["name"] for s in report["steps"]] == ["source", "length", "exact_dedup", "pii"]
    if name == "product_reviews.yaml":
        assert all(r["quality"]["helpfulness"]["score"] >= 2 for r in rows)
        assert set(rows[0]) == {"id", "instruction", "output", "product", "stars", "quality"}


def test_a_method_source_that_makes_nothing_says_why(tmp_path: Path, cli) -> None:
    """The loopback server repeats each prompt, which Evol-Instruct rightly rejects as a copy: the run
    fails with exit 1 and the report counts the method step's rejections by reason."""
    with LoopbackServer() as srv:
        result = cli(
            "run", str(EXAMPLES / "evolved_questions.toml"), "-o", "out", "--base-url", srv.url + "/v1"
        )
    assert result.code == 1 and "no row survived" in result.err
    evolved = json.loads(Path("out/report.json").read_text())["steps"][0]
    assert evolved["name"] == "evolved" and evolved["removed"]["eliminated_copied_prompt"] > 0


def test_a_method_step_answers_the_rows_so_far(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text("question,topic\nWhat is rain?,weather\nWhat is a noun?,grammar\n")
    path = write(
        tmp_path / "m.yaml",
        "sources:\n  q: {path: q.csv, columns: {question: instruction, topic: topic}}\n"
        "steps:\n  - {name: answered, method: respond}\n  - {name: weather, keep: 'topic == \"weather\"'}\n",
    )
    with LoopbackServer() as srv:
        done = Pipeline.from_file(path, base_url=srv.url + "/v1").run(tmp_path / "out")
        assert sum(srv.received.values()) == 2
    rows = done.rows()
    assert [(r["id"], r["instruction"], r["topic"]) for r in rows] == [
        ("answered-q-000000-0000", "What is rain?", "weather")
    ]
    assert rows[0]["output"].startswith("answer to: ") and done.report["steps"][0]["requests"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["product_reviews.yaml", "evolved_questions.toml"])
def test_the_example_pipelines_run_on_the_embedded_model(tmp_path: Path, name: str) -> None:
    pipeline = Pipeline.from_file(EXAMPLES / name)
    spec = pipeline.loaded.spec
    # two rows in two row groups: the whole file, every step, on the default model, in CI's time
    spec.rows, spec.row_group = 2, 1
    for source in spec.sources.values():
        source.count = 2
    if "writer" in spec.models:  # a short review and a short verdict (a 270M judge seldom parses)
        spec.models["writer"].max_tokens, spec.models["judge"].max_tokens = 64, 80
    done = pipeline.run(tmp_path / "out")
    report = done.report
    assert report["requests"] > 0 and all(s["groups_computed"] == 2 for s in report["steps"])
    rows = done.rows()
    assert all((r.get("output") or "").strip() for r in rows)
    if name == "product_reviews.yaml":
        # a 270M model's judge: each row scored on every aspect, or removed for a reason the file names
        assert report["written"] + report["removed"] == 2
        reasons = {r["reason"] for r in lines(tmp_path / "out" / "rejects.jsonl")}
        assert reasons <= {"unparsed_answer", "keep:helpful", "no_answer"}, reasons
        assert all(
            1 <= r["quality"][a]["score"] <= 5 for r in rows for a in ("helpfulness", "instruction_following")
        )
    else:
        assert report["written"] > 0 and all(r["operation"] and r["lineage"] for r in rows)


def test_a_saved_hugging_face_dataset_is_a_source(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict(
        {"question": ["Why is the sky blue?", "What is salt?"], "x": [1, 2]}
    ).save_to_disk(str(tmp_path / "saved"))
    path = write(
        tmp_path / "hf.yaml",
        "sources:\n  saved: {path: saved, columns: {question: instruction}}\n"
        "steps:\n  - {name: output, template: 'Q: {{ instruction }}'}\n",
    )
    rows = Pipeline.from_file(path).preview(5).rows
    assert [r["output"] for r in rows] == ["Q: Why is the sky blue?", "Q: What is salt?"]
    assert [r["id"] for r in rows] == ["saved-000000", "saved-000001"]


def test_records_output_is_read_by_the_record_tools_and_the_report_shows_each_step(
    tmp_path: Path, cli
) -> None:
    path = reviews(tmp_path)
    path.write_text(path.read_text() + "output:\n  shape: records\n")
    assert cli("run", str(path), "-o", "out").code == 0
    first = json.loads(Path("out/data.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "instruction", "input", "output", "messages", "metadata", "provenance"}
    assert set(first["metadata"]) == {"product", "rating"}
    metrics = cli("metrics", "out/data.jsonl", "--metric", "stats")
    assert metrics.code == 0 and "records=" in metrics.out
    page = cli(
        "report", "out/data.jsonl", "--run-report", "out/report.json", "-o", "r.html", "--metric", "stats"
    )
    assert page.code == 0, page.err
    html = Path("r.html").read_text()
    assert "Pipeline steps" in html and "keep:positive=" in html and "pipeline reviews:" in html
    assert Pipeline.from_file(path).run("out").rows()[0]["product"] == first["metadata"]["product"]


def test_config_that_changes_answers_recomputes_and_config_that_does_not_reuses(tmp_path: Path) -> None:
    path, out = reviews(tmp_path), tmp_path / "out"
    Pipeline.from_file(path).run(out)
    again = Pipeline.from_file(path, config={"engine": {"max_retries": 9}}).run(out).report
    assert all(s["groups_computed"] == 0 for s in again["steps"])  # how requests are sent: not the rows
    hotter = Pipeline.from_file(path, config={"sampling": {"temperature": 0.1}}).run(out).report
    assert all(s["groups_computed"] == 3 for s in hotter["steps"])


def test_file_rows_and_method_rows_do_not_mix(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text("instruction\nWhat is rain?\n")
    path = write(tmp_path / "mix.yaml", "sources:\n  a: {method: respond, count: 3}\n  b: {path: q.csv}\n")
    with pytest.raises(ConfigError, match=r"mix.yaml:1:1: \$\.sources: rows come either from files or"):
        Pipeline.from_file(path).validate()


def test_output_exports_write_training_files_once_the_run_is_complete(tmp_path: Path, cli) -> None:
    """``output.exports``: the finished dataset written again by exporter plugins, in the run directory
    and in the report; a wrong exporter, option or path is an error of ``validate`` with its line."""
    text = REVIEWS.format(rows=8, group=5, keep=1) + (
        "output:\n  exports:\n"
        "    - {to: trl-sft, path: sft.jsonl, options: {style: prompt_completion}}\n"
        "    - {to: openai, path: openai.jsonl, options: {system: Write reviews.}}\n"
    )
    path = write(tmp_path / "exports.yaml", text)
    result = cli("run", str(path), "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    data = lines(tmp_path / "out" / "data.jsonl")
    sft, chats = lines(tmp_path / "out" / "sft.jsonl"), lines(tmp_path / "out" / "openai.jsonl")
    assert len(sft) == len(chats) == len(data) == 8
    assert sft[0] == {
        "prompt": [{"role": "user", "content": data[0]["instruction"]}],
        "completion": [{"role": "assistant", "content": data[0]["output"]}],
    }
    assert chats[0]["messages"][0] == {"role": "system", "content": "Write reviews."}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert str(tmp_path / "out" / "sft.jsonl") in report["outputs"]
    assert [e["format"] for e in report["exports"]] == ["trl_sft", "openai"]
    bad = write(
        tmp_path / "bad.yaml",
        REVIEWS.format(rows=8, group=5, keep=1)
        + "output:\n  exports:\n    - {to: parquetish, path: x.jsonl}\n"
        + "    - {to: trl_sft, path: data.jsonl, options: {style: sideways}}\n",
    )
    checked = cli("validate", str(bad))
    assert checked.code == 2
    assert "no exporter plugin named 'parquetish'" in checked.err
    assert "exports[1].path: 'data.jsonl' must be a new file name" in checked.err
    assert "style" in checked.err and "bad.yaml:" in checked.err


def test_an_hf_export_step_has_a_card_made_from_the_pipeline_run(tmp_path: Path, cli) -> None:
    """An ``hf`` export in a pipeline file gets the run's report: the card lists the steps with rows in
    and out, what the keep step removed and why, and the requests of the LLM step."""
    pytest.importorskip("datasets")
    import yaml

    text = REVIEWS.format(rows=12, group=5, keep=3) + "output:\n  exports:\n    - {to: hf, path: dataset}\n"
    result = cli("run", str(write(tmp_path / "hf.yaml", text)), "-o", str(tmp_path / "out"))
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    card = (tmp_path / "out" / "dataset" / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in header["configs"]] == ["default", "sft"]
    assert f"| pipeline `reviews` | 5 steps | {report['written']} of 12 rows |" in card
    assert "| backends and models | writer: echo / its default model (1) |" in card
    keep = next(s for s in report["steps"] if s["name"] == "positive")
    (reason,) = keep["removed"]
    assert f"| reviews | positive | {keep['kind']} | 12 | {report['written']} |" in card
    assert f"{reason} ({12 - report['written']})" in card
    assert f"| reviews | output | llm | 12 | 12 | 100.0% | none | {report['requests']} |" in card
    assert str(tmp_path / "out" / "dataset") in report["outputs"] and report["exports"][0]["format"] == "hf"


def test_the_budget_covers_method_sources_llm_columns_and_resumed_groups(tmp_path: Path, cli) -> None:
    """``[engine] max_tokens`` is the run directory's: a generation-method source's tokens count with the
    LLM columns', a run over it stops with the committed groups kept, a rerun with the same budget
    counts the resumed groups' spend and stops before sending anything, and a larger budget finishes
    the run with only the missing work (the cache is off, so every answer is a request)."""
    text = (
        "name: budget\nrow_group: 4\nseed: 1\nmodels:\n  writer: {backend: echo}\n"
        "sources:\n  questions: {method: respond, count: 12, model: writer}\n"
        'steps:\n  - {name: summary, llm: text, model: writer, prompt: "Summarise: {{ output }}"}\n'
        "config:\n  cache: {enabled: false}\n  engine: {max_tokens: TOKENS}\n"
    )
    full = cli(
        "run", str(write(tmp_path / "free.yaml", text.replace("TOKENS", "100000"))), "-o", str(tmp_path / "a")
    )
    assert full.code == 0, full.err
    whole = json.loads((tmp_path / "a" / "report.json").read_text())
    tokens = whole["input_tokens"] + whole["output_tokens"]
    source = next(s for s in whole["steps"] if s["name"] == "source")
    per_group = (source["input_tokens"] + source["output_tokens"]) / 3
    budget = int(per_group * 1.5)  # more than one source group, less than it and its summaries
    path = write(tmp_path / "p.yaml", text.replace("TOKENS", str(budget)))
    out = tmp_path / "out"
    first = cli("run", str(path), "-o", str(out))
    assert (
        first.code == 1
        and "token budget reached" in first.err
        and "committed row groups are kept" in first.err
    )
    spent = int(first.err.split("token budget reached: ")[1].split(" ")[0])
    assert spent >= budget and not (out / "data.jsonl").exists()
    kept = sorted(p.name for p in out.glob(".checkpoints/*/*.parquet"))
    assert kept  # the finished work stays
    again = cli("run", str(path), "-o", str(out))
    assert again.code == 1 and f"token budget reached: {spent} of max_tokens={budget}" in again.err
    assert sorted(p.name for p in out.glob(".checkpoints/*/*.parquet")) == kept  # nothing more was made
    finish = cli("run", str(write(tmp_path / "p.yaml", text.replace("TOKENS", "100000"))), "-o", str(out))
    assert finish.code == 0, finish.err
    report = json.loads((out / "report.json").read_text())
    from datagen._app.pipefile.store import open_store

    store, resumed = open_store(out), 0  # what the committed groups had spent: nothing is asked twice
    for name in kept:
        key = next(out.glob(f".checkpoints/*/{name}")).relative_to(out / ".checkpoints").as_posix()
        counters = store.read(key, rows=False)[1]["counters"]
        resumed += counters["input_tokens"] + counters["output_tokens"]
    assert report["written"] == 12 and report["input_tokens"] + report["output_tokens"] + resumed == tokens
    assert sum(s["groups_resumed"] for s in report["steps"]) == len(kept)


def test_the_person_sampler_makes_people_that_depend_on_the_seed_and_row_only(tmp_path: Path) -> None:
    """``sampler: person``: made-up people from Faker in the locales given, ages within bounds, usable
    in templates, the same people whatever the row-group size; a locale Faker lacks is a validation
    error naming it."""
    pytest.importorskip("faker")

    def people(group: int) -> list[dict[str, Any]]:
        text = (
            f"name: people\nrows: 30\nrow_group: {group}\nseed: 5\nsteps:\n"
            "  - {name: p, sampler: person, locales: [de_DE, ja_JP], low: 30, high: 40}\n"
            '  - {name: hello, template: "Dear {{ p.first_name }} {{ p.last_name }} ({{ p.age }})"}\n'
        )
        return Pipeline.from_file(write(tmp_path / f"p{group}.yaml", text)).preview(30).rows

    rows = people(7)
    assert rows == people(30)
    persons = [r["p"] for r in rows]
    assert {p["locale"] for p in persons} == {"de_DE", "ja_JP"}
    assert all(30 <= p["age"] <= 40 and p["sex"] in {"female", "male"} for p in persons)
    assert {p["country"] for p in persons} == {"Germany", "Japan"}
    assert all(
        r["hello"] == f"Dear {r['p']['first_name']} {r['p']['last_name']} ({r['p']['age']})" for r in rows
    )
    assert all("@" in p["email"] and p["email"].isascii() for p in persons)
    assert len({p["name"] for p in persons}) > 25  # people, not one person repeated
    bad = write(tmp_path / "bad.yaml", "rows: 3\nsteps:\n  - {name: p, sampler: person, locales: [xx_YY]}\n")
    with pytest.raises(
        ConfigError, match=r"bad.yaml:3:\d+: \$\.steps\[0\]\.locales: 'xx_YY' is not a Faker locale"
    ):
        Pipeline.from_file(bad).validate()
