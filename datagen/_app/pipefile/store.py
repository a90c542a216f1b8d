"""Where a run's checkpoints are committed: ``RUN_DIR/.checkpoints`` by default, or any directory or
fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``abfs://...``) named by ``[executor] checkpoints``
or ``--checkpoints``, which every worker of a cluster can reach.

A checkpoint is one Parquet file, ``STEP/GROUP.FINGERPRINT.parquet`` under the store's root: the rows
as JSON in a ``row`` column, and in the file's metadata (``datagen``) the fingerprint, the removals and
the step's counts. It is written under a temporary name and moved into place, so a reader never sees
half of one. A local store checks each file on disk; a remote store lists each step's folder once
(one request, not one per row group) and adds what it commits itself, so it sees what was committed
before it opened, and its own commits after."""

from __future__ import annotations

import abc
import contextlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen._datamodel.results import temporary_path
from datagen.errors import UsageError

if TYPE_CHECKING:
    from datagen._app.pipefile.steps import Row

_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"


def is_url(location: str) -> bool:
    """Whether ``location`` is a URL (``s3://...``, ``file://...``) rather than a directory."""
    return re.match(_SCHEME, location) is not None


def shown(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it taken out, for messages and reports."""
    return re.sub(rf"\b({_SCHEME})[^/@\s]*@", r"\1", text)


def step_folder(position: int, name: str) -> str:
    """The folder of one step's checkpoints, under the store's root."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return f"{position:02d}-{safe}"


def _encode(rows: list[Row], meta: dict[str, Any]) -> Any:
    import pyarrow as pa

    table = pa.table(
        {
            "id": pa.array([str(r["id"]) for r in rows], pa.string()),
            "row": pa.array([json.dumps(r, ensure_ascii=False, default=str) for r in rows], pa.string()),
        }
    )
    return table.replace_schema_metadata({"datagen": json.dumps(meta, default=str)})


def _decode(source: Any, rows: bool) -> tuple[list[Row], dict[str, Any]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    meta: dict[str, Any] = json.loads(parquet.schema_arrow.metadata[b"datagen"])
    if not rows:
        return [], meta
    texts = parquet.read(columns=["row"]).column("row").to_pylist()
    return [json.loads(text) for text in texts], meta


class Checkpoints(abc.ABC):
    """A run's checkpoints, addressed by ``folder/GROUP.FINGERPRINT.parquet`` keys."""

    @staticmethod
    def key(folder: str, group: int, fingerprint: str) -> str:
        """The key of ``group``'s checkpoint in ``folder`` (a step's or ``source``)."""
        return f"{folder}/{group:06d}.{fingerprint}.parquet"

    @abc.abstractmethod
    def has(self, key: str) -> bool:
        """Whether the checkpoint ``key`` is committed."""

    @abc.abstractmethod
    def commit(self, key: str, rows: list[Row], meta: dict[str, Any]) -> None:
        """Write one checkpoint atomically; stale ones of the same folder and group (another
        fingerprint) are removed."""

    @abc.abstractmethod
    def read(self, key: str, rows: bool = True) -> tuple[list[Row], dict[str, Any]]:
        """A checkpoint's rows (unless ``rows`` is False) and metadata."""


def open_store(out: Path, location: str | None = None) -> Checkpoints:
    """The store of run directory ``out``'s checkpoints: ``location`` (a directory or an fsspec URL),
    else ``out/.checkpoints``. A URL's file system is reached here, so a wrong protocol, a missing
    package or a bucket that cannot be listed is an error before any work."""
    if not location:
        return LocalCheckpoints(out / ".checkpoints")
    if location.startswith("file://"):
        return LocalCheckpoints(Path(location.removeprefix("file://")))
    if not is_url(location):
        return LocalCheckpoints(Path(location).expanduser())
    return RemoteCheckpoints(location)


class LocalCheckpoints(Checkpoints):
    """Checkpoints in a local (or mounted) directory."""

    def __init__(self, root: Path) -> None:
        if root.exists() and not root.is_dir():
            raise UsageError(f"$.executor.checkpoints: {root} is a file, not a directory")
        self.root = root.absolute()

    def has(self, key: str) -> bool:
        return (self.root / key).is_file()

    def commit(self, key: str, rows: list[Row], meta: dict[str, Any]) -> None:
        import pyarrow.parquet as pq

        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(path)
        pq.write_table(_encode(rows, meta), tmp, compression="zstd")
        os.replace(tmp, path)
        group = path.name.split(".", 1)[0]
        for stale in path.parent.glob(f"{group}.*.parquet"):
            if stale != path:
                stale.unlink(missing_ok=True)

    def read(self, key: str, rows: bool = True) -> tuple[list[Row], dict[str, Any]]:
        return _decode(self.root / key, rows)


#: fsspec protocols whose objects appear whole or not at all (an upload completes, or nothing is
#: there): a checkpoint is written in place, one request, without a temporary object to copy and delete
WHOLE_OBJECTS = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "memory"})


class RemoteCheckpoints(Checkpoints):
    """Checkpoints in an object store or any other file system fsspec reaches (its credentials and
    endpoint from the environment, as its package reads them: ``AWS_*`` for ``s3://``, ...). On an
    object store a checkpoint is one upload; elsewhere it is written under a temporary name and moved."""

    def __init__(self, url: str) -> None:
        #: the URL as the user named it, credentials taken out (for messages)
        self.location = shown(url)
        try:
            from fsspec.core import url_to_fs
        except ImportError:
            raise UsageError(
                f"$.executor.checkpoints: {self.location} needs fsspec and the package of its protocol: "
                "pip install 'datagen[remote]' (and e.g. s3fs, gcsfs or adlfs)"
            ) from None
        try:
            self.fs, root = url_to_fs(url)
            self.root = str(root).rstrip("/")
            self.fs.makedirs(self.root, exist_ok=True)  # a bucket is made; a prefix needs nothing
            self.fs.invalidate_cache(self.root)
            with contextlib.suppress(FileNotFoundError):  # an object store's empty prefix
                self.fs.ls(self.root, detail=False)
        except Exception as exc:  # the file system's own errors (credentials, a bucket missing, ...)
            text = str(exc).replace(url, self.location)
            detail = shown(text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}")
            raise UsageError(f"$.executor.checkpoints: {self.location} cannot be used: {detail}") from None
        #: each step folder's file names, listed once, then kept up to date with this store's commits
        self._listed: dict[str, set[str]] = {}
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple | list) else (self.fs.protocol,)
        self._in_place = bool(WHOLE_OBJECTS.intersection(protocols))
        self._made: set[str] = set()

    def _names(self, folder: str) -> set[str]:
        if folder not in self._listed:
            path = f"{self.root}/{folder}"
            self.fs.invalidate_cache(path)  # a listing cached by fsspec may predate other workers' commits
            try:
                found = self.fs.ls(path, detail=False)
            except FileNotFoundError:
                found = []
            self._listed[folder] = {str(p).rstrip("/").rsplit("/", 1)[-1] for p in found}
        return self._listed[folder]

    def has(self, key: str) -> bool:
        folder, name = key.rsplit("/", 1)
        return name in self._names(folder)

    def commit(self, key: str, rows: list[Row], meta: dict[str, Any]) -> None:
        import pyarrow.parquet as pq

        folder, name = key.rsplit("/", 1)
        names = self._names(folder)
        path = f"{self.root}/{key}"
        if folder not in self._made and not self._in_place:
            self.fs.makedirs(f"{self.root}/{folder}", exist_ok=True)
            self._made.add(folder)
        target = path if self._in_place else f"{self.root}/{folder}/.{name}.{uuid.uuid4().hex}.tmp"
        with self.fs.open(target, "wb") as handle:
            pq.write_table(_encode(rows, meta), handle, compression="zstd")
        if target != path:
            self.fs.mv(target, path)
        group = name.split(".", 1)[0]
        stale = [n for n in names if n.startswith(f"{group}.") and n.endswith(".parquet") and n != name]
        for old in stale:
            self.fs.rm(f"{self.root}/{folder}/{old}")
            names.discard(old)
        names.add(name)

    def read(self, key: str, rows: bool = True) -> tuple[list[Row], dict[str, Any]]:
        with self.fs.open(f"{self.root}/{key}", "rb") as handle:
            return _decode(handle, rows)
