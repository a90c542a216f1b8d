"""A loopback stand-in for the few Hugging Face Hub endpoints an upload uses (create a repo, list its
tree, validate a card's YAML, preupload, commit), so ``huggingface_hub`` itself is exercised over HTTP.

Every file is a regular git blob (the preupload answer decides); commits carry their files inline as
base64 NDJSON, as the Hub's commit endpoint receives them. ``fail_commits`` makes the next N commits
answer 422 without storing anything (an interrupted push; 5xx would be retried by the client).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class FakeHub:
    """Repositories held in memory: ``repos[repo_id][path] = bytes``; ``commits`` in order."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.fail_commits = 0
        self.authorizations: set[str] = set()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                hub.authorizations.add(self.headers.get("Authorization", ""))
                match = re.match(r"/api/datasets/(.+?)/tree/[^/?]+", self.path)
                if match and match.group(1) in hub.repos:
                    files = hub.repos[match.group(1)]
                    self._send(
                        200,
                        [
                            {"type": "file", "path": p, "size": len(d), "oid": blob_id(d)}
                            for p, d in files.items()
                        ],
                    )
                else:
                    self._send(404, {"error": "Repository not found"})

            def do_POST(self) -> None:
                hub.authorizations.add(self.headers.get("Authorization", ""))
                body = self._body()
                if self.path.startswith("/api/repos/create"):
                    data = json.loads(body)
                    repo = f"{data.get('organization') or 'user'}/{data['name']}"
                    hub.created.append(data)
                    if repo in hub.repos:
                        self._send(409, {"error": "You already created this dataset repo", "url": repo})
                    else:
                        hub.repos[repo] = {}
                        self._send(200, {"url": f"{hub.url}/datasets/{repo}"})
                    return
                if self.path.startswith("/api/validate-yaml"):
                    self._send(200, {"errors": [], "warnings": []})
                    return
                match = re.match(r"/api/datasets/(.+?)/(preupload|commit)/", self.path)
                if not match or match.group(1) not in hub.repos:
                    self._send(404, {"error": "Repository not found"})
                    return
                repo, action = match.groups()
                if action == "preupload":
                    files = json.loads(body)["files"]
                    answer = [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                         "oid": blob_id(hub.repos[repo][f["path"]]) if f["path"] in hub.repos[repo] else None}
                        for f in files
                    ]  # fmt: skip
                    self._send(200, {"files": answer})
                    return
                if hub.fail_commits:
                    hub.fail_commits -= 1
                    self._send(422, {"error": "Commit refused (planted)"})
                    return
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                added = {}
                for line in lines:
                    if line["key"] == "file":
                        added[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                hub.repos[repo].update(added)
                hub.commits.append({"repo": repo, "files": sorted(added)})
                url = f"{hub.url}/datasets/{repo}/commit/{len(hub.commits)}"
                self._send(200, {"commitUrl": url, "commitOid": "0" * 40, "pullRequestUrl": None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
