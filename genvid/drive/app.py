"""The HTTP side of the driving page: a FastAPI app over an Engine and the local server that runs it.

Routes: ``GET /`` the page, ``GET /static/<name>`` its script and style (looked up by name in
memory: no request path reaches the file system), ``GET /api/info``, ``POST /api/sessions``
{clip} and ``POST /api/sessions/<session>/press`` {action | steer, frames}. Frames travel as PNG
data URLs. Every error is a 4xx with ``{"error": "<one line>"}``; a request body over MAX_BODY bytes is
refused (413) before it is read whole, whether its length is declared or it comes in chunks. The page's Content-Security-Policy
allows nothing but this server, so it cannot fetch from the network even by mistake.
"""
from __future__ import annotations

import base64
import contextlib
import io
import socket
import threading
import time
from importlib import resources
from typing import Any, Iterator

import numpy as np
from fastapi import FastAPI, Request
from fastapi import HTTPException as FastAPIHTTPException  # FastAPI re-raises its own when reading a body
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from genvid.drive.engine import DriveError, Engine, Generated
from genvid.errors import GenvidError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY = 4096  # bytes: the largest body the API takes is a few dozen
STATIC = {"drive.js": "text/javascript; charset=utf-8", "drive.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    clip: int


class PressBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    action: str | None = None
    steer: float | None = Field(default=None, allow_inf_nan=False)
    frames: int | None = None


def png_data_url(frame: np.ndarray) -> str:
    """uint8 [H, W, C] (C = 1 or 3) as a ``data:image/png;base64,...`` URL."""
    image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _generated(g: Generated) -> dict[str, Any]:
    return {"step": g.step, "image": png_data_url(g.frame),
            "truth": None if g.truth is None else png_data_url(g.truth), "why_not": g.why_not}


def _static(name: str) -> bytes:
    return resources.files("genvid.drive").joinpath("static", name).read_bytes()


def _validation_message(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        if e.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({e.get('ctx', {}).get('error', 'unreadable')})")
            continue
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        got = f" (got {e['input']!r})" if "input" in e and e.get("type") not in ("missing", "json_invalid") else ""
        parts.append(f"{where}: {e.get('msg', 'invalid')}{got}")
    return "; ".join(parts) or "malformed request"


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets a 413 and one JSON error line, from its
    Content-Length before any of it is read, or, sent in chunks, as soon as the chunks pass the limit."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    def _too_large(self) -> str:
        return f"the request body is over {self.limit} bytes"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            response = JSONResponse({"error": self._too_large()}, status_code=413, headers=SECURITY_HEADERS)
            return await response(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # FastAPI passes an HTTPException raised here on to the app's handler
                    raise FastAPIHTTPException(413, self._too_large())
            return message

        await self.app(scope, limited, send)


def build_app(engine: Engine) -> FastAPI:
    """The page's app over ``engine`` (no docs pages: they would load scripts from a CDN)."""
    app = FastAPI(title="genvid: drive the learned simulator", docs_url=None, redoc_url=None, openapi_url=None)
    page = _static("index.html")
    static = {name: (_static(name), kind) for name, kind in STATIC.items()}

    app.add_middleware(BodyLimit, limit=MAX_BODY)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(DriveError)
    async def drive_error(request: Request, err: DriveError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=err.status)

    @app.exception_handler(GenvidError)
    async def model_error(request: Request, err: GenvidError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _validation_message(err)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        message = f"not found: {request.url.path}" if err.status_code == 404 else str(err.detail)
        return JSONResponse({"error": message}, status_code=err.status_code)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in static:
            raise HTTPException(404)
        body, kind = static[name]
        return Response(body, media_type=kind)

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return engine.info()

    @app.post("/api/sessions")
    def start(body: StartBody) -> dict[str, Any]:
        s = engine.start(body.clip)
        return {"session": s.session, "clip": s.clip, "context": [png_data_url(f) for f in s.context],
                "truth": not s.why_not, "why_not": s.why_not}

    @app.post("/api/sessions/{session}/press")
    def press(session: str, body: PressBody) -> dict[str, Any]:
        p = engine.press(session, body.action, body.steer, body.frames)
        return {"session": p.session, "action": p.action, "values": list(p.values),
                "frames": [_generated(g) for g in p.frames]}

    return app


def listen(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> socket.socket:
    """A listening socket on (host, port) (port 0: a free one), or one GenvidError line."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as err:
        raise GenvidError(f"--host {host} --port {port}: cannot listen there ({err.strerror or err})") from None
    return sock


def make_server(engine: Engine, log_level: str = "warning"):
    """A uvicorn server of ``build_app(engine)``: ``.run(sockets=[listen(...)])`` serves until
    stopped (Ctrl-C, or ``should_exit = True`` from another thread)."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(build_app(engine), log_level=log_level, access_log=False))


@contextlib.contextmanager
def serving(engine: Engine, host: str = DEFAULT_HOST, timeout: float = 30.0) -> Iterator[int]:
    """The page's server over ``engine`` on a free port of ``host`` in a thread of this process, for as
    long as the block runs (tests, benchmarks/drive_soak.py): yields the port."""
    sock = listen(host, 0)
    server = make_server(engine)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            raise GenvidError(f"the driving page's server did not start within {timeout:g} s")
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
