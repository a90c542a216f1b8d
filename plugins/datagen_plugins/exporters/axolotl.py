"""``axolotl``: chat fine-tuning JSON Lines (``{"messages": [{role, content}, ...]}``) and the
``datasets:`` entry that loads it in an Axolotl config, written beside it as ``STEM.axolotl.yaml``.

The entry uses Axolotl's ``chat_template`` dataset type (ShareGPT is deprecated there): ``ds_type: json``,
``field_messages``, ``message_property_mappings`` (role and content), ``roles_to_train`` and
``train_on_eos``, the keys of Axolotl's ``SFTDataset`` schema (checked against axolotl 0.19's
``axolotl.utils.schemas.datasets``). Without ``chat_template`` the model's own tokenizer template is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, hookimpl, write_file
from datagen_plugins.exporters._shape import ChatOptions, RowExporter, turns, write_rows


@attrs.define
class AxolotlOptions(ChatOptions):
    """Options of ``[exporter.axolotl]``: ``data_path`` (the path the snippet names, the output's absolute
    path by default: set it when Axolotl runs elsewhere), ``chat_template`` (one of Axolotl's template
    names, or unset for the tokenizer's), ``roles_to_train``, ``train_on_eos`` (``turn``, ``last``,
    ``all`` or ``none``)."""

    data_path: str | None = None
    chat_template: str | None = None
    roles_to_train: list[str] = attrs.field(factory=lambda: ["assistant"])
    train_on_eos: str = attrs.field(
        default="turn", validator=attrs.validators.in_(("turn", "last", "all", "none"))
    )


def _yaml_scalar(value: str) -> str:
    """A string as a YAML scalar that reads back unchanged (JSON strings are YAML)."""
    return json.dumps(value, ensure_ascii=False)


class Axolotl(RowExporter):
    """The data file and its Axolotl ``datasets:`` snippet."""

    name: ClassVar[str] = "axolotl"
    Config: ClassVar[type[Any]] = AxolotlOptions
    config: AxolotlOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{"messages": [...]}``."""
        return {"messages": turns(record, self.config)}

    def snippet(self, path: Path) -> str:
        """The ``datasets:`` YAML that loads ``path``."""
        c = self.config
        lines = [
            "# Axolotl: the datasets entry for this file (datagen export --to axolotl); merge it into",
            "# your config. Its keys are Axolotl's chat_template dataset type's.",
            "datasets:",
            f"  - path: {_yaml_scalar(c.data_path or str(path.resolve()))}",
            "    ds_type: json",
            "    type: chat_template",
        ]
        if c.chat_template:
            lines.append(f"    chat_template: {_yaml_scalar(c.chat_template)}")
        lines += [
            "    field_messages: messages",
            "    message_property_mappings:",
            "      role: role",
            "      content: content",
            "    roles_to_train:",
            *(f"      - {_yaml_scalar(role)}" for role in c.roles_to_train),
            f"    train_on_eos: {c.train_on_eos}",
        ]
        return "\n".join(lines) + "\n"

    def export(self, records: Iterable[Record], path: Path) -> dict[str, Any]:
        """Write the data file, then the snippet beside it."""
        done = write_rows(records, path, self.row, self.name)
        snippet = path.with_name(f"{path.stem}.axolotl.yaml")
        write_file(snippet, self.snippet(path))
        return {**done, "files": [*done["files"], str(snippet)]}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the axolotl exporter."""
    register(Axolotl)
