"""E-mail: invitations straight to the party, and notices (new proposals, an agreement, a deadline near).

Service functions queue notices on the database session (``queue``); they are handed to the mailer only
after the transaction commits (``transaction`` in this module), so a request that fails sends nothing,
and are sent from a worker thread, so a slow SMTP server never holds a request or a lock. Without
``--smtp-url`` nothing is sent and the mediator passes invitation links on, as before.

An e-mailed invitation never reaches the mediator: the case page says it was sent, not what it was.
That closes the one gap the trust model had (the mediator could claim a seat before its party).
"""

from __future__ import annotations

import concurrent.futures
import logging
import smtplib
import ssl
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from parley import ParleyError

log = logging.getLogger("parley.mail")


@dataclass(frozen=True)
class Notice:
    to: str
    subject: str
    body: str


def queue(s: Session, to: str | None, subject: str, body: str) -> bool:
    """Send ``body`` to ``to`` once this transaction commits (nothing when ``to`` is None)."""
    if not to:
        return False
    s.info.setdefault("outbox", []).append(Notice(to, subject, body))
    return True


class Mailer:
    """No SMTP server: notices are dropped (and counted, for the tests and the log)."""

    enabled = False

    def __init__(self) -> None:
        self.dropped = 0

    def send_later(self, notices: list[Notice]) -> None:
        self.dropped += len(notices)

    def wait(self) -> None:
        pass


class SmtpMailer(Mailer):
    """Any SMTP server: ``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://...``."""

    enabled = True

    def __init__(self, url: str, sender: str, timeout: float = 20.0) -> None:
        super().__init__()
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ParleyError(f"--smtp-url {parts.scheme}://...: write smtp://host:25, "
                              "smtp://user:password@host:587?starttls=1 or smtps://user:password@host:465")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = "starttls=1" in (parts.query or "")
        self.sender, self.timeout = sender, timeout
        self.sent = 0
        # One worker: notices go out in the order they were queued.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-mail")
        self._pending: list[concurrent.futures.Future] = []

    def send_later(self, notices: list[Notice]) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        self._pending += [self._pool.submit(self._send, n) for n in notices]

    def wait(self) -> None:
        """Block until everything queued so far was handed to the server (tests; shutdown)."""
        concurrent.futures.wait(self._pending)

    def _send(self, notice: Notice) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, notice.to, notice.subject
        message.set_content(notice.body)
        try:
            if self.scheme == "smtps":
                server = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with server:
                if self.starttls:
                    server.starttls(context=ssl.create_default_context())
                if self.user:
                    server.login(self.user, self.password or "")
                server.send_message(message)
            self.sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            # The body may hold an invitation: log who and why, never what.
            log.warning("could not send %r to %s: %s", notice.subject, notice.to, exc)


def build_mailer(smtp_url: str | None, sender: str) -> Mailer:
    return SmtpMailer(smtp_url, sender) if smtp_url else Mailer()


@contextmanager
def transaction(state, read: bool = False):
    """One database transaction; the notices it queued go to the mailer after it commits."""
    with (state.readers if read else state.sessions).begin() as s:
        yield s
    outbox = s.info.pop("outbox", [])
    if outbox:
        state.mailer.send_later(outbox)
