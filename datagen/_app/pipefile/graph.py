"""The order steps run in, inferred from what they reference, and the fingerprint of each step.

A column step (sampler, LLM) runs after the steps whose columns its templates name; a condition or a
stage (``filter``, ``privacy``, ...) runs after every step above it in the file, and every step below
it runs after it, so a filter early in the file spares the requests of the columns written after it.
A reference that needs a column written later across such a barrier is a cycle, named in the error.

Each step's fingerprint hashes its own settings (with its model's), the file's sources and seed, and
the fingerprint of the step before it in run order: a checkpoint is reused only when everything that
made it is unchanged, and editing a step recomputes it and the steps after it."""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from datagen._app.pipefile.spec import (
    KeepStep,
    LLMStep,
    Loaded,
    MethodStep,
    SamplerStep,
    StageStep,
    Step,
    TemplateStep,
)

#: names every template may use besides the columns: the row's id and the whole row
BUILTIN_NAMES = frozenset({"id", "row"})


def environment() -> Any:
    """The Jinja environment of prompts and conditions: sandboxed, an unknown name is an error."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)


def templates_of(step: Step) -> list[tuple[str, str]]:
    """``(key, template text)`` of each Jinja text of ``step`` (a condition as an expression)."""
    if isinstance(step, LLMStep):
        found = [("prompt", step.prompt)]
        if step.system:
            found.append(("system", step.system))
        return found
    if isinstance(step, KeepStep):
        return [("keep", "{{ (" + step.keep + ") }}")]
    if isinstance(step, TemplateStep):
        return [("template", step.template)]
    return []


def references(step: Step, env: Any, problems: list[str], where: str) -> set[str]:
    """The names ``step``'s templates use (a template that does not parse is a problem)."""
    from jinja2 import TemplateSyntaxError, meta

    names: set[str] = set()
    for key, text in templates_of(step):
        try:
            names |= meta.find_undeclared_variables(env.parse(text))
        except TemplateSyntaxError as exc:
            problems.append(f"{where}.{key}: not a valid Jinja template: {exc.message} (line {exc.lineno})")
    return names


def provides(step: Step) -> str | None:
    """The column a step writes (None for conditions and stages)."""
    return step.name if isinstance(step, SamplerStep | TemplateStep | LLMStep) else None


def is_barrier(step: Step) -> bool:
    """Whether a step removes or rewrites rows (conditions, methods, stages): it keeps its place in the
    file."""
    return isinstance(step, KeepStep | MethodStep | StageStep)


def order(steps: Sequence[Step], source_columns: Iterable[str], problems: list[str]) -> list[int]:
    """The indexes of ``steps`` in run order (file order where references allow); unknown names and
    cycles are appended to ``problems``."""
    env = environment()
    columns = set(source_columns)
    writers: dict[str, int] = {}
    for i, step in enumerate(steps):
        column = provides(step)
        if column is None:
            continue
        if column in columns:
            problems.append(f"$.steps[{i}].name: column {column!r} already comes from a source")
        elif column in writers:
            problems.append(
                f"$.steps[{i}].name: column {column!r} is already written by $.steps[{writers[column]}]"
            )
        else:
            writers[column] = i
    deps: list[set[int]] = [set() for _ in steps]
    for i, step in enumerate(steps):
        where = f"$.steps[{i}]"
        for name in sorted(references(step, env, problems, where)):
            if name in writers:
                if writers[name] == i:
                    problems.append(f"{where}: the column {name!r} refers to itself")
                else:
                    deps[i].add(writers[name])
            elif name not in columns and name not in BUILTIN_NAMES:
                known = ", ".join(sorted(columns | set(writers))) or "none"
                key = templates_of(step)[0][0] if templates_of(step) else "name"
                problems.append(f"{where}.{key}: {{{{ {name} }}}} names no column (columns: {known})")
    last_barrier: int | None = None
    for i, step in enumerate(steps):
        if last_barrier is not None:
            deps[i].add(last_barrier)
        if is_barrier(step):
            deps[i].update(range(i))
            last_barrier = i
    return _toposort(steps, deps, problems)


def _toposort(steps: Sequence[Step], deps: list[set[int]], problems: list[str]) -> list[int]:
    waiting = [set(d) for d in deps]
    users: list[set[int]] = [set() for _ in steps]
    for i, d in enumerate(deps):
        for j in d:
            users[j].add(i)
    ready = [i for i, d in enumerate(waiting) if not d]
    heapq.heapify(ready)
    done: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        done.append(i)
        for user in users[i]:
            waiting[user].discard(i)
            if not waiting[user]:
                heapq.heappush(ready, user)
    if len(done) < len(steps):
        cycle = _a_cycle(deps, set(range(len(steps))) - set(done))
        names = " -> ".join(steps[i].name for i in cycle)
        problems.append(f"$.steps: the steps' references form a cycle: {names}")
    return done


def _a_cycle(deps: list[set[int]], among: set[int]) -> list[int]:
    """One cycle among the nodes left unordered, as a closed path of indexes."""
    start = min(among)
    path, seen = [start], {start: 0}
    node = start
    while True:
        node = min(d for d in deps[node] if d in among)
        if node in seen:
            return [*path[seen[node] :], node]
        seen[node] = len(path)
        path.append(node)


def digest(value: Any) -> str:
    """A short stable hash of JSON-able ``value``."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def step_settings(loaded: Loaded, step: Step, models: dict[str, Any]) -> dict[str, Any]:
    """What a step's output depends on besides its input rows: its settings, its model's, the plugin
    options it is given."""
    settings: dict[str, Any] = {"kind": step.kind, **attrs.asdict(step)}
    if isinstance(step, LLMStep | MethodStep):
        settings["model_spec"] = models.get(step.model or "default")
    if isinstance(step, SamplerStep) and step.path:
        settings["file"] = file_digest(loaded.resolve(step.path))
    if isinstance(step, MethodStep) and step.personas:  # other personas, other records
        settings["personas_file"] = file_digest(loaded.resolve(step.personas))
    return settings


def file_digest(path: Any) -> str:
    """A hash of a file's bytes (xxh3, 128 bits), or of a directory's files; ``missing`` if absent."""
    from pathlib import Path

    import xxhash

    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    h = xxhash.xxh3_128()
    for f in files:
        if not f.is_file():
            return "missing"
        h.update(str(f.relative_to(p) if p.is_dir() else "").encode())
        with f.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def fingerprints(loaded: Loaded, run_order: Sequence[int], models: dict[str, Any], base: str) -> list[str]:
    """Each step's fingerprint in run order, chained from ``base`` (the sources' and the file's)."""
    out: list[str] = []
    previous = base
    for i in run_order:
        previous = digest([previous, step_settings(loaded, loaded.spec.steps[i], models)])
        out.append(previous)
    return out
