"""Worker processes for plugins: pickled requests in, pickled answers out, over pipes.

Plain subprocesses (``python -m MODULE ARGS``) rather than ``multiprocessing``: a spawned
``multiprocessing`` child re-runs the user's ``__main__`` script, which breaks every script without an
``if __name__ == "__main__"`` guard. Each message is its length as 8 bytes, then the pickle. Only
datagen's own processes are on either end of a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class PipeWorkers:
    """``count`` processes running ``python -m module *args``; requests are handed out in turn and each
    worker answers its own in the order given."""

    def __init__(self, name: str, module: str, args: tuple[object, ...] = (), count: int = 1) -> None:
        self.name, self.module, self.args, self.count = name, module, args, count
        self._procs: list[asyncio.subprocess.Process] = []
        self._waiting: list[deque[asyncio.Future[Any]]] = []
        self._readers: list[asyncio.Task[None]] = []
        self._stderr: list[IO[bytes]] = []
        self._next = 0

    async def start(self) -> None:
        """Start the processes (each pays its own imports, in parallel with this one)."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        for i in range(self.count):
            err = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                *map(str, self.args),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
            )
            _widen_pipe(proc.stdin)
            self._procs.append(proc)
            self._stderr.append(err)
            self._waiting.append(deque())
            self._readers.append(asyncio.create_task(self._read(i)))

    def submit(self, request: Any) -> asyncio.Future[Any]:
        """Send ``request`` to the next worker in turn; its answer is the future's result."""
        i, self._next = self._next, (self._next + 1) % self.count
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[i].append(future)
        stdin = self._procs[i].stdin
        assert stdin is not None
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.write(len(data).to_bytes(8, "little") + data)
        return future

    async def drain(self) -> None:
        """Wait until the requests sent fit in the pipes (flow control)."""
        for proc in self._procs:
            if proc.stdin is not None:
                await proc.stdin.drain()

    async def call(self, request: Any) -> Any:
        """The answer to ``request`` from the next worker in turn."""
        future = self.submit(request)
        await self.drain()
        return await future

    async def _read(self, i: int) -> None:
        stdout = self._procs[i].stdout
        assert stdout is not None
        try:
            while True:
                n = int.from_bytes(await stdout.readexactly(8), "little")
                answer = pickle.loads(await stdout.readexactly(n))  # from our own worker
                future = self._waiting[i].popleft()
                if future.cancelled():
                    continue
                if isinstance(answer, _Failed):
                    future.set_exception(RuntimeError(f"{self.name} worker: {answer.message}"))
                else:
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            if self._waiting[i]:
                await self._procs[i].wait()
                self._stderr[i].seek(0)
                detail = self._stderr[i].read().decode(errors="replace").strip()[-2000:]
                error = RuntimeError(f"{self.name} worker exited ({self._procs[i].returncode}): {detail}")
                while self._waiting[i]:
                    future = self._waiting[i].popleft()
                    if not future.cancelled():
                        future.set_exception(error)

    async def close(self) -> None:
        """Stop the workers (their input closed, they exit) and wait for them."""
        for proc in self._procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc, reader, err in zip(self._procs, self._readers, self._stderr, strict=True):
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            reader.cancel()
            err.close()


class _Failed:
    """A worker's answer when handling a request raised: the parent raises it with this message."""

    def __init__(self, message: str) -> None:
        self.message = message


def serve_requests(handle: Callable[[Any], Any]) -> None:
    """A worker's loop: each request from stdin handled, its answer to stdout, until stdin closes; then
    the process ends at once (an interpreter holding large models takes a fifth of a second to tear
    down, which the parent would wait for, and a worker has nothing left to write)."""
    _widen(sys.stdout.fileno())
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while header := source.read(8):
        request = pickle.loads(source.read(int.from_bytes(header, "little")))  # from our own parent
        try:
            answer = handle(request)
        except Exception as exc:  # the parent raises it where the request was made
            answer = _Failed(f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        sink.write(len(data).to_bytes(8, "little") + data)
        sink.flush()
    sys.stderr.flush()
    os._exit(0)


def _widen_pipe(stream: asyncio.StreamWriter | None) -> None:
    """On Linux, a 1 MiB pipe buffer (64 KiB by default) so a whole batch is written in one call."""
    pipe = stream.get_extra_info("pipe") if stream is not None else None
    if pipe is not None:
        _widen(pipe.fileno())


def _widen(fd: int) -> None:
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setpipe is not None:
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
            fcntl.fcntl(fd, setpipe, 1 << 20)
