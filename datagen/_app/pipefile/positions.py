"""Where each key of a YAML or TOML file is: ``$.steps[2].prompt`` → (line, column), both from 1."""

from __future__ import annotations

import re
from typing import Any

Position = tuple[int, int]

_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r'^(\s*)((?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\'))*)\s*='
)


def path_text(parts: tuple[Any, ...]) -> str:
    """``("steps", 2, "prompt")`` → ``$.steps[2].prompt``."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def yaml_positions(text: str) -> dict[str, Position]:
    """Every key and list item of a YAML document, by its path."""
    import yaml

    found: dict[str, Position] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return found

    def walk(node: Any, parts: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*parts, key.value)
                found[path_text(here)] = (key.start_mark.line + 1, key.start_mark.column + 1)
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*parts, i)
                found[path_text(here)] = (item.start_mark.line + 1, item.start_mark.column + 1)
                walk(item, here)

    if root is not None:
        walk(root, ())
    return found


def _key_parts(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.split(r"\.(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)", text)]


def toml_positions(text: str) -> dict[str, Position]:
    """Every table, array-of-tables item and ``key =`` line of a TOML document, by its path (keys in
    inline tables and arrays share their key's line)."""
    found: dict[str, Position] = {}
    table: tuple[Any, ...] = ()
    counts: dict[tuple[Any, ...], int] = {}
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
            in_string = not in_string
            if not in_string:
                continue
        if in_string:
            continue
        header = _TABLE.match(line)
        if header and not _KEY.match(line):
            resolved: tuple[Any, ...] = ()
            names = _key_parts(header.group(1))
            for j, part in enumerate(names):
                resolved = (*resolved, part)
                if j < len(names) - 1 and resolved in counts:  # [a.b] under [[a]]: its last item
                    resolved = (*resolved, counts[resolved])
            if line.strip().startswith("[["):
                index = counts.get(resolved, -1) + 1
                counts[resolved] = index
                found.setdefault(path_text(resolved), (number, 1))
                table = (*resolved, index)
            else:
                table = resolved
            found[path_text(table)] = (number, len(line) - len(line.lstrip()) + 1)
            continue
        key = _KEY.match(line)
        if key:
            here = (*table, *_key_parts(key.group(2)))
            found.setdefault(path_text(here), (number, len(key.group(1)) + 1))
    return found


def position_of(positions: dict[str, Position], path: str) -> Position | None:
    """The position of ``path`` or of its nearest ancestor the file shows."""
    while path:
        if path in positions:
            return positions[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return None
        path = path[:cut]
    return None
