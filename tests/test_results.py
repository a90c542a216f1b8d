"""Records and Results: lossless JSONL/Parquet/pandas round trips, streaming, atomic writes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from datagen._datamodel.records import Message, Provenance, Record, Usage, stable_id
from datagen._datamodel.results import RecordWriter, Results, iter_records
from datagen.errors import UsageError
from datagen.testing import records

roundtrip = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@roundtrip
@given(items=st.lists(records(), max_size=8), suffix=st.sampled_from([".jsonl", ".parquet"]))
def test_files_round_trip_losslessly(tmp_path: Path, items: list[Record], suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    Results(items).save(path, row_group_size=3)
    assert list(Results.load(path)) == items
    assert len(Results.scan(path)) == len(items)


@roundtrip
@given(item=records())
def test_record_to_dict_is_the_converters_unstructuring(item: Record) -> None:
    from datagen._datamodel.config import converter
    from datagen._datamodel.results import record_to_dict

    assert record_to_dict(item) == converter.unstructure(item)


@roundtrip
@given(items=st.lists(records(), max_size=6))
def test_pandas_round_trip(items: list[Record]) -> None:
    assert list(Results.from_pandas(Results(items).to_pandas())) == items


def sample() -> list[Record]:
    return [
        Record(id="a", instruction="Add", input="1+1", output="2", metadata={"k": [1, 2.5, None]}),
        Record(
            id="b",
            messages=(Message("user", "hi"), Message("assistant", "hello")),
            provenance=Provenance(method="m", usage=Usage(3, 4, None), seed_ids=("s",)),
        ),
    ]


def test_results_collection_api() -> None:
    res = Results(sample())
    assert len(res) == 2 and res[0].id == "a" and res[-1].id == "b"
    assert [r.id for r in res.filter(lambda r: r.messages is not None)] == ["b"]
    assert isinstance(res[0:1], Results) and len(res[0:1]) == 1
    assert "len=2" in repr(res)


def test_scan_streams_and_indexes(tmp_path: Path) -> None:
    path = Results(sample()).save(tmp_path / "x.jsonl")
    scanned = Results.scan(path)
    assert scanned.path == path and len(scanned) == 2 and scanned[1].id == "b"
    assert [r.id for r in scanned] == ["a", "b"]


def test_writer_streams_and_renames_only_at_close(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    with RecordWriter(path, row_group_size=100) as writer:
        for i in range(250):
            writer.write(Record(id=str(i), instruction=f"task {i}"))
        assert not path.exists() and writer.tmp.exists()
    assert path.exists() and not writer.tmp.exists()
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    assert [r.id for r in iter_records(path)] == [str(i) for i in range(250)]


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"

    def crash() -> None:
        with RecordWriter(path) as writer:
            writer.write(Record(instruction="x"))
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a"}\n{oops\n', r"x.jsonl:2: not valid JSON"),
        ('{"id": "a", "colour": 1}\n', r"x.jsonl:1: not a record: \$.colour: unknown key"),
        (
            '{"id": "a", "messages": [{"role": "robot", "content": "x"}]}\n',
            r"x.jsonl:1: not a record: .*role",
        ),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        Results.load(path)


def test_rows_of_other_tools_are_read_through_the_aliases(tmp_path: Path) -> None:
    """A pretraining corpus row ({id, text, url}) is a document: text as the output, the rest as metadata;
    a row that names a record field is read strictly (a typo stays an error)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"id": "d1", "text": "A document.", "url": "https://example.org", "score": 0.5},
        {"prompt": "Say hi.", "response": "Hi."},
        {"id": 7, "content": "Numbered.", "tags": ["a", "b"]},
    ]
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "corpus.parquet"
    columns = ["id", "text", "url", "score", "prompt", "response", "content", "tags"]
    table = [{c: str(r[c]) if c == "id" and c in r else r.get(c) for c in columns} for r in rows]
    pq.write_table(pa.Table.from_pylist(table), parquet)  # one type per column: the ids as strings
    for path in (jsonl, parquet):
        first, second, third = Results.load(path)
        assert (third.id, third.output, third.metadata) == ("7", "Numbered.", {"tags": ["a", "b"]})
        assert (first.id, first.output, first.instruction) == ("d1", "A document.", None)
        assert first.metadata["url"] == "https://example.org" and first.metadata["score"] == 0.5
        assert (second.instruction, second.output) == ("Say hi.", "Hi.")
        assert second.id == stable_id("Say hi.", "Hi.") and not second.metadata
    typo = tmp_path / "typo.jsonl"
    typo.write_text('{"id": "a", "output": "x", "txt": "y"}\n')
    with pytest.raises(UsageError, match=r"typo.jsonl:1: not a record: \$.txt: unknown key"):
        Results.load(typo)


def test_unsupported_and_unwritable_paths(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unsupported file type '\.csv'"):
        Results().save(tmp_path / "x.csv")
    with pytest.raises(UsageError, match=r"folder .* does not exist"):
        Results().save(tmp_path / "missing" / "x.jsonl")
    with pytest.raises(UsageError, match="no such file"):
        Results.load(tmp_path / "none.jsonl")


def test_jsonl_is_one_readable_object_per_line(tmp_path: Path) -> None:
    path = Results(sample()).save(tmp_path / "x.jsonl")
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["metadata"] == {"k": [1, 2.5, None]}
    assert json.loads(lines[1])["messages"][1] == {"role": "assistant", "content": "hello"}


def test_stable_ids_and_usage_sums() -> None:
    assert stable_id("a", 1) == stable_id("a", 1) != stable_id("a", 2)
    assert Usage(1, 2, 0.5) + Usage(3, 4, 0.25) == Usage(4, 6, 0.75)
    assert (Usage(1, 2, None) + Usage(3, 4, 1.0)).cost_usd is None
    with pytest.raises(ValueError, match="role must be one of"):
        Message("robot", "x")


def test_the_summary_counts_truncated_records_apart_from_cut_requests() -> None:
    from datagen._datamodel.report import RunReport

    report = RunReport(
        "r", kind="generate", written=50, requests=120, finish_reasons={"stop": 70, "length": 50}
    )
    assert "0 truncated (50 other requests cut at max_tokens)" in report.summary()
    report = RunReport("r", kind="generate", written=2, requests=2, finish_reasons={"length": 2}, truncated=2)
    assert "2 truncated," in report.summary() and "other request" not in report.summary()
