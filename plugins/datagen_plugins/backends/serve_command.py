"""``datagen serve``: the embedded model (or any GGUF file) as an OpenAI-compatible server, so other tools
can use datagen's offline model.

llama.cpp (xllamacpp) serves the model on a private loopback port that answers only a random key this
process holds; datagen's front on ``--host``/``--port`` (127.0.0.1:8080 by default) passes
``/v1/models``, ``/v1/completions`` and ``/v1/chat/completions`` (streamed or not) through to it. Chat goes
through the chat template the GGUF carries; a base model without one (the default Gemma 3 270M) serves
completions only, and a chat request is answered 400 with that reason instead of a made-up template's
output. ``--api-key`` (or ``DATAGEN_SERVE_API_KEY``) makes the front require ``Authorization: Bearer
KEY``. Ctrl-C stops it cleanly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from datagen.plugin import LazyCommand, RegisterCommand, UsageError, hookimpl, register_secret

if TYPE_CHECKING:
    from aiohttp import web

ROUTES = ("/v1/completions", "/v1/chat/completions")
NO_CHAT = (
    "{model} has no chat template (a base model): it serves /v1/completions only; give an "
    "instruction-tuned GGUF that carries its template for chat"
)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    from aiohttp import web

    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


def make_app(upstream: str, upstream_key: str, alias: str, chat: bool, api_key: str | None) -> Any:
    """The front: the OpenAI routes passed through to llama.cpp at ``upstream`` (its key added), chat
    refused when the model has no template, every route behind ``api_key`` when one is set."""
    import secrets
    import time

    import aiohttp
    from aiohttp import web

    created = int(time.time())
    session: dict[str, aiohttp.ClientSession] = {}

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if api_key is not None and not secrets.compare_digest(
            request.headers.get("Authorization", ""), f"Bearer {api_key}"
        ):
            message = "a valid API key is required (Authorization: Bearer KEY)"
            return _error(401, message, "authentication_error")
        response: web.StreamResponse = await handler(request)
        return response

    async def models(request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [
                {"id": alias, "object": "model", "created": created, "owned_by": "datagen", "chat": chat}
            ]}
        )  # fmt: skip

    async def relay(request: web.Request) -> web.StreamResponse:
        if request.path == "/v1/chat/completions" and not chat:
            return _error(400, NO_CHAT.format(model=alias))
        body = await request.read()
        headers = {"Authorization": f"Bearer {upstream_key}", "Content-Type": "application/json"}
        async with session["s"].post(upstream + request.path, data=body, headers=headers) as answer:
            out = web.StreamResponse(status=answer.status)
            out.content_type = answer.content_type
            await out.prepare(request)
            async for chunk in answer.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out

    async def start(app: web.Application) -> None:
        session["s"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def stop(app: web.Application) -> None:
        await session["s"].close()

    app = web.Application(middlewares=[auth], client_max_size=64 * 1024 * 1024)
    app.router.add_get("/v1/models", models)
    for route in ROUTES:
        app.router.add_post(route, relay)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


@click.command("serve")
@click.argument("model_path", required=False, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="The port (0: any free one).")
@click.option("--alias", help="The model's name in /v1/models (default: the file's).")
@click.option("--threads", type=int, help="CPU threads (default: half the cores).")
@click.option("--parallel", default=1, show_default=True, type=int, help="Requests generated at once.")
@click.option("--ctx", "n_ctx", default=4096, show_default=True, type=int, help="Context tokens per request.")
@click.option("--api-key", envvar="DATAGEN_SERVE_API_KEY", help="Require this key (DATAGEN_SERVE_API_KEY).")
def serve_cmd(model_path: Path | None, **opts: Any) -> None:
    """Serve the embedded model, or the GGUF file MODEL_PATH, as an OpenAI-compatible API (/v1/models,
    /v1/completions, /v1/chat/completions with the GGUF's own chat template) until Ctrl-C."""
    import asyncio
    import os
    import secrets

    from datagen_plugins.backends._gguf import DEFAULT_MODEL_NAME, chat_template, model_file, server_params

    if opts["parallel"] < 1 or opts["n_ctx"] < 256 or (opts["threads"] is not None and opts["threads"] < 1):
        raise UsageError("--parallel and --threads must be at least 1, --ctx at least 256")
    _check_port(opts["host"], opts["port"])  # before loading the model
    path = model_file(None if model_path is None else str(model_path))
    alias = opts["alias"] or (model_path.stem if model_path is not None else DEFAULT_MODEL_NAME)
    template = chat_template(path)
    import xllamacpp

    threads = opts["threads"] or max(1, (os.cpu_count() or 2) // 2)
    params = server_params(
        path, n_ctx=opts["n_ctx"], parallel=opts["parallel"], threads=threads, cache_mib=256
    )
    upstream_key = secrets.token_urlsafe(24)
    for secret in (upstream_key, opts["api_key"]):
        if secret:
            register_secret(secret)  # never in a log line
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.api_keys = [upstream_key]
    params.model_alias = {alias}
    params.use_jinja = True
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as exc:
        raise UsageError(f"{path}: llama.cpp could not load it ({exc})") from None
    upstream = str(server.listening_address).rstrip("/")
    app = make_app(upstream, upstream_key, alias, template is not None, opts["api_key"])
    chat = "chat through its own template" if template is not None else "completions only (no chat template)"
    try:
        asyncio.run(_serve(app, opts["host"], opts["port"], f"{alias} ({path}): {chat}"))
    finally:
        del server  # llama.cpp's threads stop here
    click.echo("stopped", err=True)


def _check_port(host: str, port: int) -> None:
    """The address can be listened on (it is bound again, for real, once the model is loaded)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def _serve(app: Any, host: str, port: int, what: str) -> None:
    """Listen until SIGINT or SIGTERM, then close the connections and stop."""
    import asyncio
    import signal

    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    click.echo(f"serving {what} at http://{host}:{bound}/v1; Ctrl-C stops", err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


@hookimpl
def datagen_register_commands(register: RegisterCommand) -> None:
    """Register ``datagen serve`` (imported when it runs)."""
    register(
        LazyCommand(
            "serve",
            f"{__name__}:serve_cmd",
            "Serve the embedded model as an OpenAI-compatible API.",
            "backend",
        )
    )
