"""The FastAPI application: API routes, server-rendered pages, error handling and a body-size limit."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from parley.mediation import api, web
from parley.mediation.db import DEFAULT_URL, open_database, readers
from parley.mediation.rationale import RationaleWriter, TemplateWriter
from parley.mediation.service import ServiceError, validation_message

MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they declare Content-Length."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"detail": f"request body is larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _number(value):
    """1240.0 reads as 1240 on a page; other values as they are."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return round(value, 4) if isinstance(value, float) else value


def create_app(database_url: str = DEFAULT_URL, writer: RationaleWriter | None = None) -> FastAPI:
    app = FastAPI(title="Parley mediation", version="1",
                  description="Cases, private constraints, MESO proposals and a human review gate.")
    app.state.sessions = open_database(database_url)
    app.state.readers = readers(app.state.sessions)
    app.state.writer = writer or TemplateWriter()
    app.state.templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
    app.state.templates.env.filters["num"] = _number

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        return app.state.templates.TemplateResponse(request, "error.html", {"message": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # FastAPI's default body, plus one readable line naming each bad field.
        errors = exc.errors()
        message = validation_message(errors, skip=1)  # drop 'body' / 'path' / 'query'
        return JSONResponse({"detail": message, "errors": json.loads(json.dumps(errors, default=str))}, status_code=422)

    app.include_router(api.router)
    app.include_router(web.router)
    app.add_middleware(BodyLimit)
    return app
