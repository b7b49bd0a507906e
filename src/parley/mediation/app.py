"""The FastAPI application: API routes, server-rendered pages, error handling, security headers and limits."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from parley import ParleyError
from parley.mediation import api, mail, service, web
from parley.mediation.db import DEFAULT_URL, as_utc, open_database, readers
from parley.mediation.limits import RateLimits
from parley.mediation.mail import build_mailer
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


# No inline script anywhere (the pages have none), styles from our own file, no framing, forms only to us.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
# The interactive docs (only with --docs) load Swagger UI from its CDN, as FastAPI ships it.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "connect-src 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """Headers on every response; ``no-store`` on everything but the stylesheet, since every page and API
    answer may be private to one party."""

    def __init__(self, app, docs: bool = False) -> None:
        self.app, self.docs = app, docs

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        csp = DOCS_CSP if self.docs and path in ("/docs", "/redoc") else CSP

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"] \
                    if not path.startswith("/static/") else list(message.get("headers", []))
                headers += [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                            (b"cross-origin-opener-policy", b"same-origin")]
                if not path.startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class RedactSecrets(logging.Filter):
    """Access-log lines never carry an invitation: /i/<invitation> is logged as /i/[redacted]."""

    _SECRET_PATH = re.compile(r"(/i/)[^/?\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._SECRET_PATH.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self._SECRET_PATH.sub(r"\1[redacted]", record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in log.filters):
            log.addFilter(RedactSecrets())


def _clean_errors(errors: list[dict]) -> list[dict]:
    # The offending input is not echoed back: it may be a lone surrogate that no UTF-8 response can carry,
    # or a secret (a password) the client mistyped.
    return [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} | {"loc": [str(x) for x in e["loc"]]}
            for e in errors]


def create_app(database_url: str = DEFAULT_URL, writer: RationaleWriter | None = None, *,
               public_url: str = "http://127.0.0.1:8000", allow_signup: bool = True, docs: bool = False,
               rate_limits: dict[str, str] | None = None, writer_timeout: float = 60.0,
               secret_key: str | None = None, smtp_url: str | None = None, mail_from: str | None = None,
               reminder_interval: float = 600.0) -> FastAPI:
    """The service. ``public_url`` is where parties reach it: every link is built from it, never from the
    request's Host header (which a client chooses). ``secret_key`` signs the CSRF tokens (random per
    process unless given; give one when several processes serve the same database). With ``smtp_url``
    invitations and notices go out by e-mail; deadline reminders are checked every ``reminder_interval`` s."""
    public_url = check_public_url(public_url)
    mailer = build_mailer(smtp_url, mail_from or f"parley@{urlsplit(public_url).hostname}")

    @asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(_reminders(app, reminder_interval)) if mailer.enabled else None
        yield
        if task is not None:
            task.cancel()

    app = FastAPI(title="Parley mediation", version="2",
                  description="Cases, private constraints, MESO proposals and a human review gate.",
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None, lifespan=lifespan)
    app.state.mailer = mailer
    app.state.sessions = open_database(database_url)
    app.state.readers = readers(app.state.sessions)
    app.state.writer = writer or TemplateWriter()
    app.state.writer_timeout = writer_timeout
    app.state.public_url = public_url
    app.state.secure_cookies = app.state.public_url.startswith("https://")
    app.state.allow_signup = allow_signup
    app.state.limits = RateLimits(rate_limits)
    app.state.csrf_secret = secret_key or secrets.token_urlsafe(32)
    app.state.templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
    app.state.templates.env.filters["num"] = _number
    app.state.templates.env.filters["when"] = when
    install_log_redaction()

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=exc.headers)
        return app.state.templates.TemplateResponse(request, "error.html", {"message": exc.message},
                                                    status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # FastAPI's default body, plus one readable line naming each bad field.
        errors = exc.errors()
        message = validation_message(errors, skip=1)  # drop 'body' / 'path' / 'query'
        body = json.dumps({"detail": message, "errors": _clean_errors(errors)}, default=str, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    app.mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))), name="static")
    app.include_router(api.router)
    app.include_router(web.router)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, docs=docs)
    return app


def send_reminders(app) -> int:
    """Queue the deadline reminders that are due (a day before a deadline, once per case)."""
    with mail.transaction(app.state) as s:
        return service.due_reminders(s, app.state.public_url)


async def _reminders(app, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(send_reminders, app)
        except Exception:  # a database hiccup must not end the loop; the next round tries again
            logging.getLogger("parley.mail").exception("deadline reminders failed")
        await asyncio.sleep(interval)


def when(value, zone: str = "UTC", fmt: str = "%d %b %Y, %H:%M") -> str:
    """A stored time (ISO string or datetime, UTC when naive) in the viewer's zone, with the zone's name."""
    if not value:
        return ""
    at = as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
    try:
        local = at.astimezone(ZoneInfo(zone or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        local = at.astimezone(timezone.utc)
    return f"{local.strftime(fmt)} {local.tzname()}"


def check_public_url(url: str) -> str:
    url = (url or "").rstrip("/")
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
        raise ParleyError(f"public URL {url!r}: give the address parties open, e.g. https://mediation.example.org")
    return url
