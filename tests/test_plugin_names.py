"""No string literal under ``datagen/`` names a built-in plugin: the app finds plugins by what they
declare (family records, ``default``, ``detects_pii``, ``env_key``, ...), not by name.

A literal equal to an entry-point name is an ordinary word used for something else (listed in
``ORDINARY`` with what it is: a record field, a finish reason, an API dialect) or a plugin name the app
hard-codes (``REMAINING``: none now). The test fails on any literal in neither list, and on a listed one
that is gone, so both lists stay exact.
"""

from __future__ import annotations

import ast
import tomllib
from collections import Counter
from pathlib import Path

from tests.conftest import REPO

#: (file, literal) pairs that are ordinary words, each with what it means there, and how many times
ORDINARY: dict[tuple[str, str], int] = {
    ("datagen/_app/audit.py", "instruction"): 1,  # a record field
    ("datagen/_app/commands/cache.py", "stats"): 1,  # the `datagen cache stats` subcommand
    ("datagen/_app/runner.py", "length"): 1,  # the finish reason of an answer cut at max_tokens
    ("datagen/_datamodel/report.py", "length"): 1,  # the finish reason
    ("datagen/_datamodel/results.py", "instruction"): 6,  # a record field
    ("datagen/_datamodel/seeds.py", "instruction"): 3,  # a record field
    ("datagen/_engine/llm.py", "length"): 1,  # the finish reason
    ("datagen/_engine/structured.py", "length"): 1,  # the finish reason
    ("datagen/errors.py", "language"): 1,  # the name of the `language` extra
    ("datagen/_kernel/methods.py", "instruction"): 1,  # a record field
    ("datagen/_kernel/methods.py", "persona"): 2,  # the metadata key naming a record's persona
    ("datagen/_datamodel/config.py", "persona"): 1,  # the default column of a persona file
    ("datagen/_datamodel/personas.py", "persona"): 3,  # the column of a persona file
    ("datagen/_text/prompts.py", "persona"): 1,  # the template variable holding the job's persona
    ("datagen/testing.py", "length"): 2,  # the finish reason
    ("datagen/testing_server.py", "length"): 2,  # the finish reason
    ("datagen/testing_server.py", "openai"): 7,  # the API dialect the test server speaks
    ("datagen/testing_server.py", "anthropic"): 5,  # the API dialect the test server speaks
    ("datagen/_text/repetition.py", "length"): 1,  # the finish reason
    ("datagen/_app/pipefile/check.py", "judge"): 1,  # a pipeline file's LLM column kind
    ("datagen/_app/pipefile/spec.py", "judge"): 1,  # a pipeline file's LLM column kind
    ("datagen/_app/pipefile/steps.py", "judge"): 2,  # a pipeline file's LLM column kind
    ("datagen/_app/pipefile/spec.py", "template"): 3,  # a pipeline file's template step kind
    ("datagen/_app/pipefile/graph.py", "template"): 1,  # a pipeline file's template step kind
    ("datagen/_app/pipefile/sources.py", "instruction"): 1,  # a record field
    ("datagen/_app/pipefile/steps.py", "instruction"): 2,  # a record field
    ("datagen/pipeline/io.py", "instruction"): 1,  # a record field
    ("datagen/pipeline/sampling.py", "instruction"): 1,  # a record field
    ("datagen/pipeline/sampling.py", "random"): 3,  # the sampling strategy (and the stdlib module)
    ("datagen/pipeline/sampling.py", "length"): 1,  # the sampling strategy by length bucket
}

#: plugin names the app still hard-codes (none left; a new one must go into a plugin's declaration)
REMAINING: dict[tuple[str, str], int] = {}


def builtin_plugin_names() -> set[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(data["project"]["entry-points"]["datagen"])


def literals_naming_plugins(names: set[str], root: Path = REPO) -> Counter[tuple[str, str]]:
    """Every string constant under ``root``/datagen/ equal to one of ``names``, docstrings left out."""
    found: Counter[tuple[str, str]] = Counter()
    for path in sorted((root / "datagen").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        rel = str(path.relative_to(root))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in names
                and id(node) not in docstrings
            ):
                found[(rel, node.value)] += 1
    return found


def test_no_literal_under_datagen_names_a_builtin_plugin_beyond_the_known_ones() -> None:
    found = literals_naming_plugins(builtin_plugin_names())
    expected = Counter(ORDINARY) + Counter(REMAINING)
    new = {k: v for k, v in found.items() if v > expected.get(k, 0)}
    gone = {k: v for k, v in expected.items() if found.get(k, 0) < v}
    assert not new, f"plugin names written into datagen/ (declare them in the plugin instead): {new}"
    assert not gone, f"listed here but no longer in the code (take them off the list): {gone}"


def test_the_scan_finds_a_planted_name(tmp_path: Path) -> None:
    """The scan itself works: a plugin name in code is found, one in a docstring is not."""
    plant = tmp_path / "datagen" / "x.py"
    plant.parent.mkdir()
    plant.write_text('"""Uses near_dedup."""\nDEFAULT = "near_dedup"\nOTHER = "unrelated"\n')
    found = literals_naming_plugins({"near_dedup", "pii"}, tmp_path)
    assert found == Counter({("datagen/x.py", "near_dedup"): 1})
