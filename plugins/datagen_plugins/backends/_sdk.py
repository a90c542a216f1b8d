"""Shared by the OpenAI and Anthropic backends: HTTP straight from datagen or through the SDKs' client,
and the errors of both mapped onto datagen's."""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import os
import ssl
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Mapping
from importlib import resources
from types import ModuleType
from typing import Any

from datagen.plugin import (
    BackendError,
    ConnectionFailed,
    PermanentError,
    Price,
    RateLimitHeaders,
    RateLimits,
    TransientError,
    error_for_status,
    on_the_wire,
    parse_rate_limits,
    redact_text,
)

#: OpenAI's finish reasons (which LiteLLM reports for every provider) in datagen's terms
OPENAI_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}

#: the rate-limit headers of the servers these backends talk to: OpenAI's (also sent by most
#: OpenAI-compatible servers) and Anthropic's
RATE_LIMIT_HEADERS = (
    RateLimitHeaders("x-ratelimit-", "limit-{}", "remaining-{}", "reset-{}"),
    RateLimitHeaders("anthropic-ratelimit-", "{}-limit", "{}-remaining", "{}-reset"),
)


def rate_limits_of(headers: Mapping[str, str]) -> RateLimits | None:
    """The limits an answer's headers announce, in either vendor's naming."""
    return parse_rate_limits(headers, RATE_LIMIT_HEADERS)


def load_prices(filename: str) -> dict[str, Price]:
    """A backend's price table: a TOML file of this package, ``["model"]`` tables of USD per million
    input and output tokens."""
    text = (resources.files(__package__) / filename).read_text(encoding="utf-8")
    return {
        model: Price(float(row["input_per_mtok"]), float(row["output_per_mtok"]))
        for model, row in tomllib.loads(text).items()
    }


def status_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> BackendError:
    """:func:`datagen.plugin.error_for_status` with the rate limits these vendors' headers announce."""
    limits = rate_limits_of(headers) if headers and status == 429 else None
    return error_for_status(status, message, headers, rate_limits=limits)


def http_error(
    status: int, headers: Mapping[str, str], message: str, provider: str, where: str
) -> BackendError:
    """:func:`status_error` for an answer; a rejected key says so, without the server's words."""
    if status in {401, 403}:
        message = f"{provider} rejected the API key ({status}) at {where}; check the key and try again"
    return status_error(status, message, headers)


def map_sdk_error(exc: Exception, sdk: ModuleType, provider: str, where: str) -> BackendError:
    """The datagen error for an ``openai``/``anthropic`` SDK exception (messages are redacted)."""
    message = redact_text(f"{provider} at {where}: {type(exc).__name__}: {exc}")
    if isinstance(exc, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
        return http_error(getattr(exc, "status_code", 401), {}, message, provider, where)
    if isinstance(exc, sdk.APIStatusError):
        headers: Any = getattr(exc.response, "headers", {}) or {}
        status = 429 if isinstance(exc, sdk.RateLimitError) else exc.status_code
        return http_error(status, headers, message, provider, where)
    if isinstance(exc, sdk.APITimeoutError):
        return TransientError(message)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        return ConnectionFailed(redact_text(f"{provider} at {where}: Connection failed ({detail})"))
    return PermanentError(message)


TRANSPORTS = ("direct", "lean", "aiohttp", "httpx")


class ProxyTable:
    """The proxy for each (scheme, host) from ``HTTP(S)_PROXY`` / ``NO_PROXY``, read once per host.

    aiohttp's ``trust_env`` would look the proxy and ~/.netrc up again, in a worker thread, for every
    request. Credentials in the proxy's URL come back as a ``Proxy-Authorization`` value.
    """

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def __call__(self, scheme: str, host: str) -> tuple[str | None, str | None]:
        """(proxy URL without credentials, Proxy-Authorization) or (None, None) for a direct connection."""
        key = (scheme, host)
        if key not in self.found:
            proxy = urllib.request.getproxies().get(scheme)
            if not proxy or urllib.request.proxy_bypass(host):
                self.found[key] = (None, None)
            else:
                parts = urllib.parse.urlsplit(proxy)
                auth = None
                if parts.username is not None:
                    user = urllib.parse.unquote(parts.username)
                    pair = f"{user}:{urllib.parse.unquote(parts.password or '')}"
                    auth = "Basic " + base64.b64encode(pair.encode()).decode()
                bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
                self.found[key] = (bare, auth)
        return self.found[key]


def proxy_arguments(
    proxies: ProxyTable, scheme: str, host: str, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    """aiohttp's ``proxy`` and ``proxy_headers`` for one request; may add to ``headers``.

    The proxy's credentials go on the tunnel's CONNECT for https, on the request itself for http.
    """
    proxy, proxy_auth = proxies(scheme, host)
    proxy_headers = None
    if proxy_auth is not None:
        if scheme == "https":
            proxy_headers = {"Proxy-Authorization": proxy_auth}
        else:
            headers.append(("Proxy-Authorization", proxy_auth))
    return {"proxy": proxy, "proxy_headers": proxy_headers}


def default_ssl_context() -> ssl.SSLContext:
    """Certificates from ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, else certifi's bundle (as the SDKs do)."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if not (cafile or capath):
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:  # the system's store
            pass
    return ssl.create_default_context(cafile=cafile, capath=capath)


def http_library(sdk: ModuleType) -> ModuleType:
    """The HTTP library the SDK is built on (httpx, or httpx2 in newer SDKs)."""
    base = importlib.import_module(f"{sdk.__name__}._base_client")
    for name in ("httpx2", "httpx"):
        library = getattr(base, name, None)
        if isinstance(library, ModuleType):
            return library
    raise RuntimeError(f"cannot find the HTTP library of {sdk.__name__} {getattr(sdk, '__version__', '')}")


def raw_response_type(sdk: ModuleType) -> type[Any]:
    """The response class of the SDK's HTTP library."""
    response_type: type[Any] = http_library(sdk).Response
    return response_type


def wire_trace() -> Any:
    """An aiohttp trace that tells the engine when each request went out on an open connection
    (:func:`datagen.plugin.on_the_wire`): a new connection's opening is no part of how long the
    server took."""
    import aiohttp

    async def headers_sent(*_: Any) -> None:
        on_the_wire()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    return trace


async def _httpx_trace(event: str, _: Any) -> None:
    if event.endswith("send_request_headers.complete"):  # (http11. or http2.)
        on_the_wire()


async def _traced(request: Any) -> None:
    request.extensions["trace"] = _httpx_trace


def http_client(sdk: ModuleType, transport: str, base_url: str) -> Any:
    """The SDK's ``http_client``: ``lean`` (datagen's), ``aiohttp`` (the SDK's) or ``httpx`` (the
    SDK's default client, which tells the engine when each request went out, as ``lean`` does).

    With ``direct`` (requests sent without the SDK) the SDK's other calls, such as the Batch API, go
    through ``lean``. ``lean`` plugs :func:`lean_transport` into the SDK's own HTTP client, the SDK's
    documented way to customise transports; everything above the transport (auth, headers, errors)
    stays the SDK's.
    """
    if transport == "httpx":
        return sdk.DefaultAsyncHttpxClient(event_hooks={"request": [_traced]})
    if transport == "aiohttp":
        return sdk.DefaultAioHttpClient()
    library = http_library(sdk)
    return library.AsyncClient(
        transport=lean_transport(library, secure=base_url.startswith("https:")), follow_redirects=True
    )


def lean_transport(library: ModuleType, *, secure: bool) -> Any:
    """An httpx transport that sends through one aiohttp session and reads each answer whole.

    About 0.1 ms of client CPU per request less than the SDK's aiohttp transport, which wraps every
    answer in a stream. Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``); certificates
    are checked with the HTTP library's default context (``SSL_CERT_FILE`` honoured).
    """
    import aiohttp

    timeout_error = library.ReadTimeout
    connect_error = library.ConnectError

    class LeanTransport(library.AsyncBaseTransport):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.session: aiohttp.ClientSession | None = None
            self.proxies = ProxyTable()

        def _session(self) -> aiohttp.ClientSession:
            if self.session is None:
                context = library.create_ssl_context() if secure else True
                connector = aiohttp.TCPConnector(limit=0, ssl=context)
                self.session = aiohttp.ClientSession(
                    connector=connector, auto_decompress=False, trace_configs=[wire_trace()]
                )
            return self.session

        async def handle_async_request(self, request: Any) -> Any:
            timeout = request.extensions.get("timeout", {})
            data = await request.aread()
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
            via = proxy_arguments(self.proxies, request.url.scheme, request.url.host, headers)
            try:
                async with self._session().request(
                    request.method,
                    str(request.url),
                    headers=headers,
                    data=data or None,
                    allow_redirects=False,
                    compress=False,
                    **via,
                    timeout=aiohttp.ClientTimeout(
                        sock_connect=timeout.get("connect"),
                        sock_read=timeout.get("read"),
                        connect=timeout.get("pool"),
                    ),
                ) as response:
                    body = await response.read()
            except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
                raise timeout_error(str(exc) or "timed out", request=request) from exc
            except aiohttp.ClientError as exc:
                raise connect_error(str(exc) or type(exc).__name__, request=request) from exc
            return library.Response(
                status_code=response.status,
                headers=response.raw_headers,
                content=body,
                request=request,
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
            )

        async def aclose(self) -> None:
            if self.session is not None:
                await self.session.close()
                self.session = None

    return LeanTransport()


class Poster:
    """POSTs JSON through an SDK client's public low-level ``post``: (JSON answer, rate limits).

    This keeps the SDK's transport, authentication, timeouts and error classes, but skips its per-call
    parameter transformation and pydantic model construction (half the client CPU per request). The
    body is serialised once here and the URL made absolute once, so the SDK neither re-encodes the body
    nor merges the path into its base URL for every request. The SDK's errors (subclasses of
    ``base_error``) become datagen's.
    """

    def __init__(
        self, client: Any, path: str, sdk: ModuleType, base_error: type[Exception], where: str
    ) -> None:
        self.client = client
        self.url = str(client.base_url).rstrip("/") + "/" + path.lstrip("/")
        self.response_type = raw_response_type(sdk)
        self.raw_content = "content" in inspect.signature(client.post).parameters
        self.sdk = sdk
        self.base_error = base_error
        self.where = where

    async def __call__(self, body: dict[str, Any]) -> tuple[Any, RateLimits | None]:
        """The parsed JSON answer and the rate limits its headers announce."""
        try:
            if self.raw_content:
                data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
                raw = await self.client.post(self.url, content=data, cast_to=self.response_type)
            else:  # SDKs before the ``content`` parameter
                raw = await self.client.post(self.url, body=body, cast_to=self.response_type)
        except self.base_error as exc:
            raise map_sdk_error(exc, self.sdk, self.sdk.__name__, self.where) from None
        try:
            return json.loads(raw.content), rate_limits_of(raw.headers)
        except ValueError:
            raise TransientError(f"malformed response from {self.url}: not JSON") from None


class DirectPoster:
    """POSTs JSON to the endpoint over one aiohttp session, without the SDK: (JSON answer, rate limits).

    The same wire format, headers and error mapping as :class:`Poster`, but nothing of the SDK is
    imported (``import openai`` alone takes ~0.4 s, ``import anthropic`` ~1 s) and no SDK code runs per
    request. Proxies come from the environment, as for the ``lean`` transport; certificates are checked
    against ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` or certifi's bundle; compressed answers are decoded.
    """

    def __init__(
        self, url: str, headers: Mapping[str, str], provider: str, where: str, timeout_s: float
    ) -> None:
        self.url = url
        self.provider = provider
        self.where = where
        parts = urllib.parse.urlsplit(url)
        # one URL: its proxy (and the proxy's credentials, for http, a header) is looked up once
        self.headers = list(headers.items())
        self.send = proxy_arguments(ProxyTable(), parts.scheme, parts.hostname or "", self.headers)
        self.secure = parts.scheme == "https"
        self.timeout_s = timeout_s
        self.session: Any = None
        self.client_error: type[Exception] = Exception

    def _session(self) -> Any:
        if self.session is None:
            import aiohttp

            context = default_ssl_context() if self.secure else True
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=context), trace_configs=[wire_trace()]
            )
            self.send["timeout"] = aiohttp.ClientTimeout(
                sock_connect=self.timeout_s, sock_read=self.timeout_s
            )
            self.client_error = aiohttp.ClientError
        return self.session

    async def __call__(self, body: dict[str, Any]) -> tuple[Any, RateLimits | None]:
        """The parsed JSON answer and the rate limits its headers announce."""
        session = self._session()
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            async with session.post(self.url, data=data, headers=self.headers, **self.send) as answer:
                content = await answer.read()
        except TimeoutError:  # aiohttp's timeouts are TimeoutErrors too
            raise TransientError(f"{self.provider} at {self.where}: timed out") from None
        except self.client_error as exc:
            detail = redact_text(f"{type(exc).__name__}: {exc}")
            raise ConnectionFailed(f"{self.provider} at {self.where}: Connection failed ({detail})") from None
        if not 200 <= answer.status < 300:
            raise self._error(answer.status, answer.headers, content)
        try:
            return json.loads(content), rate_limits_of(answer.headers)
        except ValueError:
            raise TransientError(f"malformed response from {self.url}: not JSON") from None

    def _error(self, status: int, headers: Mapping[str, str], content: bytes) -> BackendError:
        try:
            error = json.loads(content).get("error")
            detail = str(error.get("message", error) if isinstance(error, dict) else error)
        except (ValueError, AttributeError):
            detail = content[:200].decode("utf-8", "replace")
        message = redact_text(f"{self.provider} at {self.where}: HTTP {status}: {detail}")
        return http_error(status, headers, message, self.provider, self.where)

    async def aclose(self) -> None:
        """Close the connections."""
        if self.session is not None:
            await self.session.close()
            self.session = None
