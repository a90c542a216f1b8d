"""Exporters: every built-in format from records, rows with exactly the format's keys, TRL's own data
utilities accepting the TRL formats, and records a format cannot express refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import datagen
from datagen._app.exports import export
from datagen.errors import UsageError

R = datagen.Record
M = datagen.Message
KEYS = {
    "openai": {"messages"},
    "sharegpt": {"conversations"},
    "alpaca": {"instruction", "input", "output"},
    "chatml": {"text"},
    "trl_sft": {"messages"},
    "trl_dpo": {"prompt", "chosen", "rejected"},
    "trl_kto": {"prompt", "completion", "label"},
    "llamafactory": {"conversations"},
    "axolotl": {"messages"},
}
text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(str.strip)


@st.composite
def trainable(draw: Any) -> datagen.Record:
    """A record any format can express: an answered instruction or a conversation ending with an
    answer, with both preference answers and a label in its metadata."""
    chosen, rejected = draw(text), draw(text)
    meta = {"chosen": chosen, "rejected": rejected + " (worse)", "label": draw(st.booleans())}
    if draw(st.booleans()):
        return R(instruction=draw(text), input=draw(st.none() | text), output=draw(text), metadata=meta)
    turns = draw(st.integers(1, 3))
    messages = []
    for _ in range(turns):
        messages += [M("user", draw(text)), M("assistant", draw(text))]
    return R(messages=tuple(messages), metadata=meta)


def strings(value: Any) -> list[str]:
    """Every string inside a row."""
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in strings(item)]


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().split("\n") if line]  # (U+0085 is in a line)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(trainable(), min_size=1, max_size=5), fmt=st.sampled_from(sorted(KEYS)))
def test_every_format_writes_one_row_per_record_with_exactly_its_keys(
    tmp_path: Path, records: list[datagen.Record], fmt: str
) -> None:
    """(axolotl#2415: TRL rejects a row with one extra recognised key, so no row carries any.)"""
    if fmt == "alpaca":  # Alpaca has one question and its answer
        records = [r for r in records if not r.messages or len(r.messages) == 2] or [
            R(instruction="q", output="a")
        ]
    out = tmp_path / f"{fmt}.jsonl"
    done = datagen.Results(records).export(fmt, out)
    written = rows(out)
    assert done["rows"] == len(records) == len(written)
    for record, row in zip(records, written, strict=True):
        assert set(row) - {"system"} == KEYS[fmt]
        answer = record.output or (record.messages[-1].content if record.messages else "")
        if fmt != "trl_dpo":  # (its answers are the metadata's chosen and rejected)
            assert any(answer in value for value in strings(row))


def test_the_system_prompt_and_the_input_go_where_each_format_puts_them(tmp_path: Path) -> None:
    record = R(id="a", instruction="Add", input="1+1", output="2", metadata={"system": "Be brief."})
    results = datagen.Results([record])
    results.export("openai", tmp_path / "o.jsonl")
    assert rows(tmp_path / "o.jsonl")[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Add\n\n1+1"},
        {"role": "assistant", "content": "2"},
    ]
    results.export("alpaca", tmp_path / "a.jsonl")
    assert rows(tmp_path / "a.jsonl")[0] == {
        "instruction": "Add",
        "input": "1+1",
        "output": "2",
        "system": "Be brief.",
    }
    results.export("sharegpt", tmp_path / "s.jsonl")
    speakers = [t["from"] for t in rows(tmp_path / "s.jsonl")[0]["conversations"]]
    assert speakers == ["system", "human", "gpt"]
    config = {"exporter": {"openai": {"system": "Answer in French.", "system_field": ""}}}
    results.export("openai", tmp_path / "o2.jsonl", config=config)
    assert rows(tmp_path / "o2.jsonl")[0]["messages"][0]["content"] == "Answer in French."


def test_a_record_the_format_cannot_express_is_named_and_no_file_appears(tmp_path: Path) -> None:
    records = [
        R(id="ok", instruction="q", output="a", metadata={"chosen": "a", "rejected": "b"}),
        R(id="bad", instruction="q", output="a"),
    ]
    out = tmp_path / "dpo.jsonl"
    with pytest.raises(UsageError, match=r"record 1 \(id bad\) cannot be written as trl_dpo: no 'chosen'"):
        datagen.Results(records).export("trl-dpo", out)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match=r"record 0 \(id q\).*no assistant answer"):
        datagen.Results([R(id="q", instruction="unanswered")]).export("openai", out)
    chat = (M("user", "a"), M("assistant", "b"), M("user", "c"), M("assistant", "d"))
    with pytest.raises(UsageError, match="more than one question"):
        datagen.Results([R(messages=chat)]).export("alpaca", out)
    installed = r"\(--to\): no exporter plugin named 'parquetish' \(registered: alpaca, axolotl, chatml"
    with pytest.raises(UsageError, match=installed):
        export([], "parquetish", out)
    with pytest.raises(datagen.ConfigError, match=r"exporter.trl_sft.style"):
        export([], "trl_sft", out, config={"exporter": {"trl_sft": {"style": "sideways"}}})


def test_llamafactory_adds_its_entry_to_dataset_info_and_keeps_the_others(tmp_path: Path) -> None:
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"alpaca_en": {"file_name": "alpaca_en.json"}}))
    record = R(id="a", instruction="Add", output="2", metadata={"system": "Be brief."})
    done = datagen.Results([record]).export("llamafactory", tmp_path / "pairs.jsonl")
    assert done["dataset_name"] == "pairs" and str(info) in done["files"]
    entries = json.loads(info.read_text())
    assert entries["alpaca_en"] == {"file_name": "alpaca_en.json"}
    assert entries["pairs"]["file_name"] == "pairs.jsonl" and entries["pairs"]["formatting"] == "sharegpt"
    assert entries["pairs"]["columns"] == {"messages": "conversations", "system": "system"}
    assert rows(tmp_path / "pairs.jsonl") == [
        {
            "conversations": [{"from": "human", "value": "Add"}, {"from": "gpt", "value": "2"}],
            "system": "Be brief.",
        }
    ]


#: the keys of Axolotl's SFT dataset entry (``SFTDataset`` in axolotl 0.19's
#: ``axolotl/utils/schemas/datasets.py``, read from its wheel): the snippet uses no other
AXOLOTL_SFT_KEYS = {
    "path", "split", "type", "ds_type", "data_files", "name", "chat_template", "chat_template_jinja",
    "field_messages", "message_property_mappings", "roles_to_train", "train_on_eos", "roles",
    "drop_system_message", "revision",
}  # fmt: skip


def test_axolotl_writes_the_data_file_and_a_datasets_entry_that_loads_it(tmp_path: Path) -> None:
    import yaml

    records = [
        R(id="a", instruction="Add", output="2"),
        R(id="b", messages=(M("user", "Hi"), M("assistant", "Hello"))),
    ]
    config = {"exporter": {"axolotl": {"system": "Be brief.", "roles_to_train": ["assistant"]}}}
    done = datagen.Results(records).export("axolotl", tmp_path / "chat data.jsonl", config=config)
    snippet = tmp_path / "chat data.axolotl.yaml"
    assert done["rows"] == 2 and str(snippet) in done["files"]
    (entry,) = yaml.safe_load(snippet.read_text())["datasets"]
    assert set(entry) <= AXOLOTL_SFT_KEYS
    assert entry["type"] == "chat_template" and entry["ds_type"] == "json"
    assert Path(entry["path"]) == (tmp_path / "chat data.jsonl").resolve()
    field, mapping = entry["field_messages"], entry["message_property_mappings"]
    for row in rows(tmp_path / "chat data.jsonl"):  # every turn has the fields the entry maps
        assert set(row) == {field}
        assert all(set(turn) == set(mapping.values()) for turn in row[field])
        assert row[field][0] == {"role": "system", "content": "Be brief."}
    assert "chat_template" not in entry  # the tokenizer's own template
    remote = {"exporter": {"axolotl": {"data_path": "/data/x.jsonl", "chat_template": "chatml"}}}
    datagen.Results(records).export("axolotl", tmp_path / "x.jsonl", config=remote)
    (entry,) = yaml.safe_load((tmp_path / "x.axolotl.yaml").read_text())["datasets"]
    assert entry["path"] == "/data/x.jsonl" and entry["chat_template"] == "chatml"


def test_datagen_export_on_the_command_line(cli, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    datagen.Results([R(id="a", instruction="Add", output="2", metadata={"label": True})]).save(source)
    out = tmp_path / "kto.jsonl"
    result = cli("export", str(source), "--to", "trl-kto", "-o", str(out), "--system", "Be brief.")
    assert result.code == 0, result.err
    assert "wrote 1 rows as trl-kto" in result.err
    assert rows(out) == [
        {
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Add"}],
            "completion": [{"role": "assistant", "content": "2"}],
            "label": True,
        }
    ]
    again = cli("export", str(source), "--to", "trl-kto", "-o", str(out))
    assert again.code == 2 and "exists" in again.err


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def local_tokenizer() -> Any:
    """A tokenizer built here (no download) with a ChatML chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    inner = Tokenizer(models.WordLevel(vocab={"[UNK]": 0, "<|im_end|>": 1}, unk_token="[UNK]"))
    inner.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="[UNK]", eos_token="<|im_end|>")
    tokenizer.chat_template = CHATML
    return tokenizer


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(trainable(), min_size=1, max_size=4))
def test_trl_reads_every_row_of_the_trl_formats(tmp_path: Path, records: list[datagen.Record]) -> None:
    """TRL's own data utilities: each row is conversational and renders through a chat template with
    ``maybe_apply_chat_template`` (which raises on any key set TRL does not define)."""
    data_utils = pytest.importorskip("trl.data_utils")
    tokenizer = local_tokenizer()
    for fmt, options in (
        ("trl_sft", {}),
        ("trl_sft", {"style": "prompt_completion"}),
        ("trl_dpo", {}),
        ("trl_kto", {}),
    ):
        out = tmp_path / f"{fmt}.jsonl"
        datagen.Results(records).export(fmt, out, config={"exporter": {fmt: options}})
        for row in rows(out):
            assert data_utils.is_conversational(row)
            rendered = data_utils.maybe_apply_chat_template(row, tokenizer)
            assert all(isinstance(v, str) for k, v in rendered.items() if k != "label")
            if fmt == "trl_kto":
                assert rendered["label"] is row["label"]
        plain = tmp_path / f"{fmt}-plain.jsonl"
        if fmt != "trl_sft" or options:
            datagen.Results(records).export(
                fmt, plain, config={"exporter": {fmt: {**options, "conversational": False}}}
            )
            for row in rows(plain):
                assert not data_utils.is_conversational(row)
                assert data_utils.maybe_apply_chat_template(row, tokenizer) == row


def test_splits_keep_near_duplicates_together_and_keep_the_shares(tmp_path: Path, cli) -> None:
    """``--split``: one file per split; a planted near copy of a prompt (a word added to 120, with another
    answer) lands beside its original; the shares hold within each stratum; the same seed gives the same
    split."""
    import random

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(4000)]
    records = []
    for i in range(240):
        text = " ".join(rng.choice(vocab) for _ in range(120))
        records.append(R(id=f"r{i}", instruction=text, output=f"answer {i}", metadata={"topic": "ab"[i % 2]}))
        if i % 4 == 0:  # the same prompt with a word added, and another answer
            copy = R(
                id=f"copy{i}", instruction=text + " please", output="another", metadata={"topic": "ab"[i % 2]}
            )
            records.append(copy)
    source = tmp_path / "in.jsonl"
    datagen.Results(records).save(source)
    args = ("export", str(source), "--to", "openai", "-o", str(tmp_path / "chat.jsonl"))
    result = cli(*args, "--split", "train=0.8,validation=0.2", "--stratify", "topic")
    assert result.code == 0, result.err
    assert "240 clusters of near duplicates (near_dedup): 0 in two splits" in result.err
    where: dict[str, str] = {}
    by_topic: dict[tuple[str, str], int] = {}
    for split in ("train", "validation"):
        for row in rows(tmp_path / f"chat.{split}.jsonl"):
            text = row["messages"][0]["content"]
            where[text] = split
            record = next(r for r in records if r.instruction == text)
            key = (split, record.metadata["topic"])
            by_topic[key] = by_topic.get(key, 0) + 1
    assert len(where) == len(records)
    for record in records:
        if record.id.startswith("copy"):
            original = records[records.index(record) - 1]
            assert where[record.instruction] == where[original.instruction]
    for topic in "ab":
        total = by_topic[("train", topic)] + by_topic[("validation", topic)]
        assert abs(by_topic[("validation", topic)] - 0.2 * total) <= 2  # within one cluster of the share
    first = (tmp_path / "chat.train.jsonl").read_text()
    assert cli(*args, "--split", "train=0.8,validation=0.2", "--stratify", "topic", "--overwrite").code == 0
    assert (tmp_path / "chat.train.jsonl").read_text() == first
    other = cli(*args, "--split", "train=0.8,validation=0.2", "--split-seed", "1", "--overwrite")
    assert other.code == 0 and (tmp_path / "chat.train.jsonl").read_text() != first
    bad = cli(*args, "--split", "train=0.8,validation=0.3")
    assert bad.code == 2 and "shares sum to 1" in bad.err
    # decontamination in the same command: two benchmark questions planted among the prompts
    bench = tmp_path / "test_set.jsonl"
    bench.write_text("".join(json.dumps({"question": records[i].instruction}) + "\n" for i in (3, 9)))
    clean = cli(
        *args, "--split", "train=0.8,validation=0.2", "--decontaminate", f"mmlu={bench}", "--overwrite"
    )
    assert clean.code == 0, clean.err
    assert "decontaminate: removed 2 of 300 records (benchmarks mmlu; hits: mmlu 2)" in clean.err
    kept = [
        row["messages"][0]["content"]
        for s in ("train", "validation")
        for row in rows(tmp_path / f"chat.{s}.jsonl")
    ]
    assert len(kept) == 298 and records[3].instruction not in kept and records[9].instruction not in kept
    missing = cli(*args, "--decontaminate", str(tmp_path / "nope.jsonl"), "--overwrite")
    assert missing.code == 2 and "nope.jsonl: no such file" in missing.err
    # an output that exists is refused before the decontamination's work, not after it
    refused = cli(*args, "--split", "train=0.8,validation=0.2", "--decontaminate", f"mmlu={bench}")
    assert refused.code == 2 and "chat.train.jsonl: exists" in refused.err
    assert "decontaminate: removed" not in refused.err


GENERATION_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}<|im_end|>{% endgeneration %}"
    "{% else %}{{ m['content'] }}<|im_end|>{% endif %}\n{% endfor %}"
)


def test_check_template_says_when_no_assistant_token_would_train(tmp_path: Path, cli) -> None:
    """A template without ``{% generation %}`` masks every assistant token out (0 %, exit 1, said why);
    one with the markers masks every answer in; a local tokenizer also counts rows over --max-length."""
    pytest.importorskip("transformers")
    source = tmp_path / "in.jsonl"
    answers = ["short", "a much longer answer " * 30]
    datagen.Results([R(instruction=f"q{i}", output=a) for i, a in enumerate(answers)]).save(source)
    plain, marked = tmp_path / "plain.jinja", tmp_path / "marked.jinja"
    plain.write_text(CHATML)
    marked.write_text(GENERATION_CHATML)
    args = ("export", str(source), "--to", "trl-sft", "-o", str(tmp_path / "sft.jsonl"), "--overwrite")
    without = cli(*args, "--check-template", str(plain))
    assert without.code == 1
    assert "0.0% of 2 rows have assistant tokens masked in" in without.err
    assert "no {% generation %} markers" in without.err
    with_markers = cli(*args, "--check-template", str(marked))
    assert with_markers.code == 0 and "100.0% of 2 rows" in with_markers.err
    tokenizer = local_tokenizer()
    tokenizer.chat_template = GENERATION_CHATML
    folder = tmp_path / "model"
    tokenizer.save_pretrained(folder)
    measured = cli(*args, "--check-template", str(folder), "--max-length", "40")
    assert measured.code == 0, measured.err
    assert "100.0% of 2 rows have assistant tokens masked in, 50.0% longer than 40 tokens" in measured.err
    assert cli(*args, "--check-template", str(plain), "--max-length", "40").code == 2  # no tokenizer to count


def test_to_torch_gives_a_dataset_and_a_padding_collate_for_a_dataloader() -> None:
    """Labels only on the assistant's tokens when the template marks them, -100 elsewhere and in the
    padding; cut at max_length; without markers, assistant-only is refused (nothing would be labelled)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    tokenizer = local_tokenizer()
    tokenizer.chat_template = GENERATION_CHATML
    results = datagen.Results([R(instruction="q one", output="a b c"), R(instruction="q", output="d")])
    dataset, collate = results.to_torch(tokenizer, max_length=64)
    assert len(dataset) == 2
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    labelled = (batch["labels"] != -100).sum(dim=1).tolist()
    assert 0 < labelled[1] < labelled[0] < int(batch["attention_mask"][0].sum())  # the answers alone
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    short, _ = results.to_torch(tokenizer, max_length=3)
    assert len(short[0]["input_ids"]) == 3
    tokenizer.chat_template = CHATML
    whole, _ = results.to_torch(tokenizer)
    assert (whole[0]["labels"] == whole[0]["input_ids"]).all()  # no markers: every token is labelled
    with pytest.raises(UsageError, match="no \\{% generation %\\} markers"):
        results.to_torch(tokenizer, assistant_only=True)


def test_hf_writes_a_dataset_folder_with_real_features_shards_and_a_card(tmp_path: Path) -> None:
    """``load_from_disk`` and the Parquet shards give the same rows; ``messages`` is a list of structs,
    ``provenance`` and a homogeneous ``metadata`` are structs, not strings; mixed metadata is JSON text
    and the card says so; the card's YAML header parses and names its config."""
    datasets = pytest.importorskip("datasets")
    import yaml

    usage = datagen.Usage(prompt_tokens=3, completion_tokens=4, cost_usd=0.001)
    made = datagen.Provenance(method="respond", backend="echo", model="m", usage=usage, finish_reason="stop")
    records = [
        R(id="a", instruction="q", output="x", metadata={"topic": "t", "score": 1.5}, provenance=made),
        R(id="b", messages=(M("user", "hi"), M("assistant", "yo")), metadata={"topic": "u", "score": 2.0}),
    ]
    out = tmp_path / "dataset"
    done = datagen.Results(records).export("hf", out)
    assert done["metadata"] == "struct"
    loaded = datasets.load_from_disk(str(out))
    assert loaded.num_rows == 2 and isinstance(loaded.features["provenance"], dict)
    assert loaded.features["metadata"]["score"].dtype == "float64"
    assert loaded[1]["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]
    assert loaded[0]["provenance"]["usage"]["completion_tokens"] == 4
    shards = datasets.load_dataset("parquet", data_files=done["shards"], split="train")
    assert shards.to_list() == loaded.to_list()
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["configs"][0]["config_name"] == "default" and "synthetic" in header["tags"]
    assert header["size_categories"] == ["n<1K"]
    assert "respond (1)" in card and "echo / m (1)" in card and "`metadata` is a struct" in card
    mixed = [
        R(id="a", instruction="q", output="x", metadata={"k": 1}),
        R(id="b", instruction="q", output="y", metadata={"k": "one"}),
    ]
    other = tmp_path / "mixed"
    assert datagen.Results(mixed).export("hf", other)["metadata"] == "json"
    assert json.loads(datasets.load_from_disk(str(other))[1]["metadata"]) == {"k": "one"}
    assert "`metadata` is JSON text" in (other / "README.md").read_text()


def test_hf_streams_records_in_batches_and_types_metadata_over_all_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records come from a generator and pass in batches of 3 (shards of 4 rows): the metadata's type
    is the one every batch fits (an int field seen later as a float is a float, a field missing from
    one batch is null there), a batch that fits no common type makes it JSON text, and the shards,
    the ``sft`` view and ``load_from_disk`` give every record once, in order; the ``rejects`` view
    streams from its file the same way, before any record is read."""
    datasets = pytest.importorskip("datasets")
    from datagen_plugins.exporters import hf

    monkeypatch.setattr(hf, "BATCH_ROWS", 3)
    config = {"exporter": {"hf": {"shard_rows": 4}}}

    def records(metadata: list[dict[str, Any]]) -> Any:
        for i, m in enumerate(metadata):
            yield R(id=str(i), instruction=f"q{i}", output=f"a{i}", metadata=m)

    fits = [{"k": 1}] * 3 + [{"k": 1.5, "j": "x"}] * 3 + [{"k": 2}]
    done = export(records(fits), "hf", tmp_path / "fits", config=config)
    assert done["metadata"] == "struct" and len(done["shards"]) == 2 and done["views"]["sft"] == 7
    loaded = datasets.load_from_disk(str(tmp_path / "fits"))
    assert loaded["id"] == [str(i) for i in range(7)]
    assert loaded.features["metadata"]["k"].dtype == "float64"
    assert loaded[0]["metadata"] == {"k": 1.0, "j": None} and loaded[4]["metadata"] == {"k": 1.5, "j": "x"}
    sft = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "fits" / "sft" / "*.parquet"), split="train"
    )
    assert [row["messages"][0]["content"] for row in sft] == [f"q{i}" for i in range(7)]
    clash = [{"k": 1}] * 3 + [{"k": "one"}] * 3
    done = export(records(clash), "hf", tmp_path / "clash", config=config)
    assert done["metadata"] == "json"
    assert json.loads(datasets.load_from_disk(str(tmp_path / "clash"))[4]["metadata"]) == {"k": "one"}
    assert not any(p.name.startswith(".") for p in (tmp_path / "clash").rglob("*"))  # no spool left
    # the removed records stream too, in batches of 3 to shards of 4 rows, in order, before any
    # record is read (a bad last line stops the export and leaves nothing behind)
    rejected = tmp_path / "rejected.jsonl"
    lines = [
        {"stage": "length", "family": "filter", "reason": f"r{i}", "details": {"n": i},
         "record": {"id": f"x{i}", "instruction": f"q{i}", "output": "", "metadata": {}}}
        for i in range(7)
    ]  # fmt: skip
    rejected.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{not json\n")
    with_rejects = {"exporter": {"hf": {"shard_rows": 4, "rejected": str(rejected)}}}
    with pytest.raises(UsageError, match=r"rejected\.jsonl:8: not a rejected-records line"):
        export(records(fits), "hf", tmp_path / "rejects", config=with_rejects)
    assert not (tmp_path / "rejects").exists() and not (tmp_path / ".rejects.tmp").exists()
    rejected.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = export(records(fits), "hf", tmp_path / "rejects", config=with_rejects)
    assert done["views"]["rejects"] == 7
    shards = sorted((tmp_path / "rejects" / "rejects").glob("*.parquet"))
    assert [s.name for s in shards] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    removed = datasets.load_dataset("parquet", data_files=[str(s) for s in shards], split="train")
    assert removed["reason"] == [f"r{i}" for i in range(7)] and json.loads(removed[6]["details"]) == {"n": 6}


def _curated_run(cli: Any, tmp_path: Path) -> dict[str, Path]:
    """Records generated on the echo backend, then filtered (length, decontamination against a planted
    benchmark), scrubbed and measured by the commands, each writing its report."""
    seeds = tmp_path / "seeds.jsonl"
    lines = [
        f"Write a note to person{i}@example.com about topic number {i} in a few words" for i in range(12)
    ]
    lines[3] = "hi"  # too short for the length filter
    seeds.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in lines))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question": lines[5]}) + "\n")  # planted: one record is a test question
    p = {k: tmp_path / v for k, v in {
        "gen": "gen.jsonl", "gen_report": "gen.json", "clean": "clean.jsonl", "filter_report": "filter.json",
        "rejected": "rejected.jsonl", "scrubbed": "scrubbed.jsonl", "scrub_report": "scrub.json",
        "metrics": "metrics.json",
    }.items()}  # fmt: skip
    steps = [
        ("generate", "--backend", "echo", "--method", "respond", "--seeds", str(seeds), "-n", "12",
         "-o", str(p["gen"]), "--report", str(p["gen_report"])),
        ("filter", str(p["gen"]), "-o", str(p["clean"]), "--filter", "length", "--filter", "decontaminate",
         "--set", "filter.length.instruction_min_length=3", "--set", "filter.decontaminate.ngram=8",
         "--set", f"filter.decontaminate.benchmarks.bench={bench}",
         "--report", str(p["filter_report"]), "--rejected", str(p["rejected"])),
        ("scrub", str(p["clean"]), "-o", str(p["scrubbed"]), "--report", str(p["scrub_report"])),
        ("metrics", str(p["scrubbed"]), "--metric", "stats", "--json", str(p["metrics"])),
    ]  # fmt: skip
    for step in steps:
        result = cli(*step)
        assert result.code == 0, (step[0], result.err)
    return p


def test_hf_card_is_made_from_the_run_reports_with_one_config_per_view(cli, tmp_path: Path) -> None:
    """The card's header names a config per view (raw records, SFT, rejects; no DPO for records without
    preference answers, and the card says why); its body gives the runs, each stage's pass rate and
    reasons, the decontamination hits, the PII found by type and the metrics; each view's shards load."""
    datasets = pytest.importorskip("datasets")
    import yaml

    p = _curated_run(cli, tmp_path)
    out = tmp_path / "hf"
    result = cli(
        "export", str(p["scrubbed"]), "--to", "hf", "-o", str(out), "--report", str(p["gen_report"]),
        "--report", str(p["filter_report"]), "--report", str(p["scrub_report"]),
        "--metrics", str(p["metrics"]), "--rejected", str(p["rejected"]),
    )  # fmt: skip
    assert result.code == 0, result.err
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in header["configs"]}
    assert configs == {"default": "data/train-*.parquet", "sft": "sft/train-*.parquet",
                       "rejects": "rejects/train-*.parquet"}  # fmt: skip
    assert "No `dpo` view: record 0" in card and "no 'chosen'" in card
    assert (
        "respond via echo" in card
        and "| length | filter | 12 | 11 | 91.7% | instruction_too_short (1) |" in card
    )
    assert "| decontaminate | filter | 11 | 10 | 90.9% | contaminated (1) |" in card
    assert "**Decontamination** (`decontaminate`): 1 record removed" in card and "hits: bench (1)" in card
    assert "found by type: EMAIL (20)" in card and "10 of 10 records changed" in card  # echo: twice each
    assert "| stats | records 10" in card
    sft = datasets.load_dataset("parquet", data_files=str(out / configs["sft"]), split="train")
    assert sft.num_rows == 10 and set(sft.features) == {"messages"}
    assert sft[0]["messages"][0]["role"] == "user" and "[EMAIL]" in sft[0]["messages"][0]["content"]
    rejects = datasets.load_dataset("parquet", data_files=str(out / configs["rejects"]), split="train")
    assert sorted(rejects["reason"]) == ["contaminated", "instruction_too_short"]
    assert json.loads(rejects[rejects["reason"].index("contaminated")]["details"])["benchmark"] == "bench"


def test_hf_views_asked_for_by_name_and_card_inputs_are_checked_before_any_work(cli, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    from datagen._datamodel.report import RunReport

    source = tmp_path / "in.jsonl"
    prefs = [
        R(id=str(i), instruction=f"q{i}", output="a", metadata={"chosen": "a", "rejected": "b"})
        for i in range(3)
    ]
    datagen.Results([*prefs, R(id="plain", instruction="q", output="a")]).save(source)
    out = tmp_path / "hf"
    asked = cli("export", str(source), "--to", "hf", "-o", str(out), "--view", "dpo")
    assert asked.code != 0 and "record 3 (id plain) cannot be written as trl_dpo" in asked.err
    assert not out.exists()
    missing = cli("export", str(source), "--to", "hf", "-o", str(out), "--report", str(tmp_path / "no.json"))
    assert (
        missing.code != 0
        and "$.exporter.hf.reports" in missing.err
        and "no.json: no such run report" in missing.err
    )
    wrong = cli(
        "export", str(source), "--to", "openai", "-o", str(tmp_path / "o.jsonl"), "--metrics", str(source)
    )
    assert wrong.code != 0 and "--metrics: the openai format writes no dataset card" in wrong.err
    # a differentially private run's budget is stated (the report as a DP run writes it)
    dp = RunReport(
        run_id="dp1", method="aug_pe", privacy_spent={"method:aug_pe": {"epsilon": 2.0, "delta": 1e-6}}
    )
    dp.save(tmp_path / "dp.json")
    datagen.Results(prefs).save(source)
    done = cli("export", str(source), "--to", "hf", "-o", str(out), "--report", str(tmp_path / "dp.json"),
               "--view", "dpo", "--overwrite")  # fmt: skip
    assert done.code == 0, done.err
    card = (out / "README.md").read_text()
    assert "`method:aug_pe`: ε = 2, δ = 1e-06" in card and "`dpo` | 3 |" in card


def test_push_to_hub_sends_shards_then_the_card_and_resumes_without_sending_twice(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a loopback Hub: the shards and the card (last) arrive; an interrupted push finished by
    the same call again sends only what is missing; a third push sends nothing; the token is sent as
    authorisation and appears in no message."""
    pytest.importorskip("datasets")
    from huggingface_hub import constants

    from datagen_plugins.exporters._hub import push
    from tests.hub_server import FakeHub

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    records = [R(id=str(i), instruction=f"q{i}", output=f"a{i}") for i in range(30)]
    out = tmp_path / "hf"
    config = {"exporter": {"hf": {"shard_rows": 10}}}
    datagen.Results(records).export("hf", out, config=config)
    lines: list[str] = []
    with FakeHub() as hub:
        hub.fail_commits = 1
        with pytest.raises(UsageError, match="run the same command again") as failed:
            push(out, "user/synth", endpoint=hub.url, token="hf_secret123", batch_bytes=1, echo=lines.append)
        assert "hf_secret123" not in str(failed.value)
        assert hub.repos["user/synth"] == {}
        hub.fail_commits = 0
        # the first commit was refused and nothing stored: the same call again sends everything
        push(out, "user/synth", endpoint=hub.url, token="hf_secret123", batch_bytes=1, echo=lines.append)
        sent = [f for c in hub.commits for f in c["files"]]
        expected = [
            f"{v}/train-{i:05d}-of-{n:05d}.parquet" for v, n in (("data", 3), ("sft", 3)) for i in range(n)
        ]
        assert sent == [*sorted(expected), "README.md"]
        assert hub.repos["user/synth"]["README.md"] == (out / "README.md").read_bytes()
        # as a push cut off after its fifth commit leaves the repository: the rest is sent, nothing twice
        del hub.repos["user/synth"]["sft/train-00002-of-00003.parquet"]
        del hub.repos["user/synth"]["README.md"]
        before = len(hub.commits)
        push(out, "user/synth", endpoint=hub.url, token="hf_secret123", batch_bytes=1, echo=lines.append)
        assert [c["files"] for c in hub.commits[before:]] == [
            ["sft/train-00002-of-00003.parquet"],
            ["README.md"],
        ]
        assert "5 of 7 files already in user/synth with the same content: not sent again" in lines
        before = len(hub.commits)
        push(out, "user/synth", endpoint=hub.url, token="hf_secret123", echo=lines.append)
        assert len(hub.commits) == before
        assert hub.authorizations == {"Bearer hf_secret123"}
        assert hub.created[0]["type"] == "dataset" and not hub.created[0].get("private")
    assert not any("hf_secret123" in line for line in lines)
    refused = cli("export", str(tmp_path / "x.jsonl"), "--to", "openai", "-o", str(tmp_path / "o.jsonl"),
                  "--push-to-hub", "user/x")  # fmt: skip
    assert refused.code != 0 and "--push-to-hub: uploads an hf dataset folder" in refused.err
