"""Shared pieces of the mediation tests: a database per test (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import subprocess
import sys
import time
import uuid

import httpx

import pytest

PG_URL = os.environ.get("PARLEY_TEST_DATABASE_URL")

CASE = {
    "title": "Flat lease",
    "issues": [
        {"kind": "numeric", "name": "Rent", "min": 1000, "max": 1600, "unit": "EUR"},
        {"kind": "numeric", "name": "Term", "min": 6, "max": 36, "unit": "months"},
        {"kind": "options", "name": "Start", "options": ["May", "June", "July"]},
    ],
    "parties": [{"name": "Tenant"}, {"name": "Landlord"}],
}
TENANT = {"issues": {"Rent": {"weight": 3, "ideal": 1000, "reservation": 1450},
                     "Term": {"weight": 1, "ideal": 36, "reservation": 12},
                     "Start": {"weight": 1, "ratings": {"May": 0.2, "June": 1, "July": 0.6}}}, "min_value": 0.2}
LANDLORD = {"issues": {"Rent": {"weight": 2, "ideal": 1600, "reservation": 1230},
                       "Term": {"weight": 2, "ideal": 12, "reservation": 30},
                       "Start": {"weight": 1, "ratings": {"May": 1, "June": 0.5, "July": 0.1}}}, "min_value": 0.15}
SECRETS_OF_LANDLORD = [1230, 30]  # numbers only the landlord typed


def database_urls():
    urls = [pytest.param("sqlite", id="sqlite")]
    urls.append(pytest.param("postgres", id="postgres", marks=[pytest.mark.postgres, pytest.mark.skipif(
        not PG_URL, reason="no PostgreSQL server: set PARLEY_TEST_DATABASE_URL (.ci/run starts one)")]))
    return urls


def fresh_database(kind: str, tmp_path) -> tuple[str, callable]:
    """(url, cleanup) of an empty database of ``kind``."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'mediation.db'}", lambda: None
    import psycopg

    name = f"parley_{uuid.uuid4().hex[:12]}"
    admin = PG_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


PASSWORD = "correct horse battery staple"


def mediator_session(client, email: str = "mediator@example.org") -> dict:
    """Sign up (once per database) and sign in a mediator through the API: its bearer header."""
    r = client.post("/api/mediators", json={"email": email, "password": PASSWORD})
    assert r.status_code in (201, 409), r.text
    r = client.post("/api/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def claim(client, invitation: str) -> dict:
    r = client.post("/api/claim", json={"invitation": invitation})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


class Actors:
    """A case created through the API by a signed-in mediator, each party's seat claimed with its invitation;
    a bearer header per role. ``invitations`` keeps every invitation the mediator saw (a hostile mediator's loot)."""

    def __init__(self, client, case=CASE, email: str = "mediator@example.org", claim_seats: bool = True):
        self.client = client
        self.mediator = mediator_session(client, email)
        response = client.post("/api/cases", json=case, headers=self.mediator)
        assert response.status_code == 201, response.text
        data = response.json()
        self.case_id = data["case_id"]
        self.created = data
        self.invitations = {p["name"]: p["invitation"] for p in data["parties"]}
        self.parties = {p["name"]: claim(client, p["invitation"]) for p in data["parties"]} if claim_seats else {}
        self.party_ids = {p["name"]: p["party_id"] for p in data["parties"]}

    def url(self, path: str = "") -> str:
        return f"/api/cases/{self.case_id}{path}"

    def enter_constraints(self, **by_party):
        for name, constraints in by_party.items():
            r = self.client.put(self.url("/constraints"), headers=self.parties[name], json=constraints)
            assert r.status_code == 204, r.text

    def meso(self, party: str, **kw) -> dict:
        r = self.client.post(self.url("/meso"), headers=self.mediator, json={"party_id": self.party_ids[party], **kw})
        assert r.status_code == 201, r.text
        return r.json()

    def view(self, who: str) -> dict:
        headers = self.mediator if who == "mediator" else self.parties[who]
        r = self.client.get(self.url(), headers=headers)
        assert r.status_code == 200, r.text
        return r.json()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def _scheme(app) -> str:
    # Behind an https public URL the cookies are Secure: a browser sends them only over https.
    return "https://testserver" if app.state.secure_cookies else "http://testserver"


def browser_party(app, invitation: str):
    """A TestClient with its own cookie jar that claimed a seat the way a browser does (open the link, press the button)."""
    from fastapi.testclient import TestClient

    browser = TestClient(app, base_url=_scheme(app))
    page = browser.get(f"/i/{invitation}")
    assert page.status_code == 200 and 'id="claim"' in page.text, page.text
    r = browser.post("/claim", data={"csrf": csrf_of(page.text), "invitation": invitation}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/p", r.text
    return browser


def browser_mediator(app, email: str = "mediator@example.org"):
    """A TestClient signed in as a mediator through the log-in form (the account must exist)."""
    from fastapi.testclient import TestClient

    browser = TestClient(app, base_url=_scheme(app))
    page = browser.get("/login")
    r = browser.post("/login", data={"csrf": csrf_of(page.text), "email": email, "password": PASSWORD},
                     follow_redirects=False)
    assert r.status_code == 303, r.text
    return browser


def post_form(browser, page_path: str, action: str, data: dict, **kw):
    """Submit a form of ``page_path`` the way its page does: with the CSRF token the page carries."""
    page = browser.get(page_path)
    assert page.status_code == 200, page.text
    return browser.post(action, data={"csrf": csrf_of(page.text), **data}, **kw)


class Inbox:
    """A local SMTP server (aiosmtpd) that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.time() + timeout
        while len(self.messages) < count and time.time() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= count, [m["Subject"] for m in self.messages]


class SlowWriter:
    """A rationale writer that takes ``seconds``, like a slow or stuck LLM server."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def write(self, requests, seed=0):
        time.sleep(self.seconds)
        return ["A slow but fine rationale."] * len(requests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, port: int, log=None, extra: tuple = ()) -> subprocess.Popen:
    """``parley serve`` in a subprocess; its output goes to ``log`` (an open file) or is discarded."""
    proc = subprocess.Popen([sys.executable, "-m", "parley.cli.main", "serve", "--database-url", db_url, "--port", str(port),
                             *extra], stdout=log or subprocess.DEVNULL, stderr=log or subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else f"server exited {proc.returncode}")
    proc.kill()
    raise RuntimeError("server did not start")
