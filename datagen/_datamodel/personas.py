"""Persona sources: a file of personas (one description of a person each) that conditions generation.

Persona Hub (Ge et al. 2024, arXiv 2406.20094) showed that putting a different persona into each prompt
("create a math problem with the following persona: a chemistry teacher who ...") spreads a model's
outputs over far more topics, styles and contexts than sampling alone. ``[generate] personas`` names
such a file; :func:`load_personas` reads it, and every job of the run is given one of its personas.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from datagen._datamodel.seeds import SEED_FORMATS, _rows
from datagen.errors import UsageError

#: the file types a persona source may have: plain text (one persona per line) or a seeds file's
PERSONA_FORMATS = (".txt", *SEED_FORMATS)
#: the columns read with the default field: Persona Hub's two spellings (datagen's own records, a
#: ``persona`` method's output, carry it in ``metadata.persona``)
_DEFAULT_FIELDS = ("persona", "input persona")


def load_personas(path: str | os.PathLike[str], field: str = "persona") -> list[str]:
    """The personas in ``path``, in file order, stripped (blank lines skipped in a text file).

    A ``.txt`` file holds one persona per line; JSONL, JSON, CSV and Parquet rows give theirs in the
    column ``field`` (or ``metadata.<field>``, as datagen's own records carry it). A row without one is
    an error naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: persona file not found ($.generate.personas)")
    suffix = path.suffix.lower()
    if suffix not in PERSONA_FORMATS:
        raise UsageError(
            f"{path}: unsupported persona file type {path.suffix!r} (use {', '.join(PERSONA_FORMATS)})"
        )
    personas = list(_text_lines(path) if suffix == ".txt" else _column(path, suffix, field))
    if not personas:
        raise UsageError(f"{path}: the persona file holds no persona")
    return personas


def _text_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            if line.strip():
                yield line.strip()


def _column(path: Path, suffix: str, field: str) -> Iterator[str]:
    names = _DEFAULT_FIELDS if field == "persona" else (field,)
    for where, row in _rows(path, suffix):
        if not isinstance(row, Mapping):
            raise UsageError(f"{where}: a persona row must be an object, got {type(row).__name__}")
        value = _persona_of(row, names)
        if value is None:
            raise UsageError(
                f"{where}: no persona in the row: expected a non-empty {field!r} field "
                f"(or metadata.{field}; set $.generate.persona_field to read another column)"
            )
        yield value


def _persona_of(row: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    metadata = row.get("metadata")
    for name in names:
        for source in (row, metadata if isinstance(metadata, Mapping) else {}):
            value = source.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


__all__ = ["PERSONA_FORMATS", "load_personas"]
