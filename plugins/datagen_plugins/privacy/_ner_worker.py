"""The PII stage's NER in a worker process: ``python -m datagen_plugins.privacy._ner_worker CONFIG``.

``CONFIG`` is the JSON of the stage's NER settings (``ner``, ``ner_languages``, ``ner_threads``). The
worker loads the default pipeline as soon as it starts, while the stage's own process reads records and
runs the rules, then answers each request ``(views, originals)`` with the names found in each text and
the pipelines in use; a language's own pipeline loads when a text of it first arrives.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from datagen.plugin import serve_requests
from datagen_plugins.privacy.pii import NER, PIIConfig


def main(config: str) -> None:
    """Load, then serve requests until the stage closes the pipe."""
    ner = NER(PIIConfig(**json.loads(config)))
    ner.default  # noqa: B018 (loaded now, in parallel with the stage's rules)

    def handle(request: tuple[list[str], list[str]]) -> tuple[list[Any], dict[str, str]]:
        views, originals = request
        return ner(views, originals), ner.names()

    serve_requests(handle)


if __name__ == "__main__":
    main(sys.argv[1])
