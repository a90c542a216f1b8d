"""``datagen export --to hf --push-to-hub REPO``: the dataset folder's Parquet shards and card uploaded to a
Hugging Face dataset repository, resumably.

Only what the Hub serves is sent: each view's ``*/train-*.parquet`` shards and ``README.md`` (the
``load_from_disk`` Arrow files stay local). Files already in the repository with the same content (its
git blob id, or its LFS SHA-256) are skipped, so a push interrupted by a crash or a lost connection is
finished by running the same command again, without sending any shard twice. Shards go in commits of at
most ``batch_bytes`` (one commit per shard when shards are large); the card goes last, so the repository
shows a card only once its data is complete. The token is ``huggingface_hub``'s (``HF_TOKEN`` or ``hf auth
login``) and appears in no message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from datagen.plugin import UsageError

BATCH_BYTES = 512 * 1024 * 1024


def local_files(folder: Path) -> list[Path]:
    """The files a Hub dataset needs, in upload order: every view's shards, then the card."""
    shards = sorted(p for p in folder.glob("*/train-*.parquet") if p.is_file())
    card = folder / "README.md"
    if not card.is_file() or not shards:
        raise UsageError(f"{folder}: not a dataset folder written by the hf format (no card or no shards)")
    return [*shards, card]


def digests(path: Path) -> tuple[str, str]:
    """The file's git blob id (SHA-1 of ``blob SIZE\\0`` and the bytes) and its SHA-256 (the LFS oid)."""
    blob = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    sha256 = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            blob.update(chunk)
            sha256.update(chunk)
    return blob.hexdigest(), sha256.hexdigest()


def remote_files(api: Any, repo: str, revision: str | None) -> dict[str, set[str]]:
    """Each file in the repository and the ids of its content (blob id, LFS SHA-256); empty for a new
    repository."""
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    found: dict[str, set[str]] = {}
    try:
        for entry in api.list_repo_tree(repo, repo_type="dataset", recursive=True, revision=revision):
            ids = {getattr(entry, "blob_id", None)}
            lfs = getattr(entry, "lfs", None)
            ids.add(getattr(lfs, "sha256", None) if lfs is not None else None)
            if getattr(entry, "size", None) is not None:  # a file, not a folder
                found[entry.path] = {i for i in ids if i}
    except (EntryNotFoundError, RevisionNotFoundError):
        return {}
    return found


def batches(paths: list[tuple[Path, str]], limit: int) -> Iterator[list[tuple[Path, str]]]:
    """Consecutive groups of files of at most ``limit`` bytes together (a larger file alone)."""
    group: list[tuple[Path, str]] = []
    size = 0
    for path, name in paths:
        grows = path.stat().st_size
        if group and size + grows > limit:
            yield group
            group, size = [], 0
        group.append((path, name))
        size += grows
    if group:
        yield group


def push(
    folder: Path,
    repo: str,
    *,
    private: bool = False,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    batch_bytes: int = BATCH_BYTES,
    echo: Callable[[str], None] = lambda line: None,
) -> str:
    """Upload ``folder`` to the dataset repository ``repo`` (created when missing); the repository's URL."""
    try:
        from huggingface_hub import CommitOperationAdd, HfApi, constants
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        raise UsageError("--push-to-hub needs huggingface_hub: pip install 'datagen[hf]'") from None
    if constants.is_offline_mode():
        raise UsageError("--push-to-hub: HF_HUB_OFFLINE is set, so nothing can be uploaded (unset it)")
    files = local_files(folder)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        url = str(api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True))
        remote = remote_files(api, repo, revision)
        todo = []
        for path in files:
            name = path.relative_to(folder).as_posix()
            if remote.get(name, set()) & set(digests(path)):
                continue
            todo.append((path, name))
        skipped = len(files) - len(todo)
        if skipped:
            echo(f"{skipped} of {len(files)} files already in {repo} with the same content: not sent again")
        data, card = [t for t in todo if t[1] != "README.md"], [t for t in todo if t[1] == "README.md"]
        groups = [*batches(data, batch_bytes), *([card] if card else [])]
        for number, group in enumerate(groups, 1):
            names = [name for _, name in group]
            api.create_commit(
                repo,
                [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for path, name in group],
                commit_message=f"datagen: {', '.join(names) if len(names) <= 3 else f'{len(names)} files'}",
                repo_type="dataset",
                revision=revision,
            )
            echo(f"commit {number}/{len(groups)}: {', '.join(names)}")
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise UsageError(
            f"--push-to-hub {repo}: the Hub answered {status or 'an error'} ({str(exc).splitlines()[0]}); "
            "what was committed stays, run the same command again to finish"
        ) from None
    return url
