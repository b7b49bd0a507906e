"""Shared pieces of the mediation tests: a database per test (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

import os
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


class Actors:
    """A case created through the API, with a client per role (tokens sent as bearer headers)."""

    def __init__(self, client, case=CASE):
        response = client.post("/api/cases", json=case)
        assert response.status_code == 201, response.text
        data = response.json()
        self.client = client
        self.case_id = data["case_id"]
        self.created = data
        self.mediator = {"Authorization": f"Bearer {data['mediator_token']}"}
        self.parties = {p["name"]: {"Authorization": f"Bearer {p['token']}"} for p in data["parties"]}
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "parley.cli.main", "serve", "--database-url", db_url, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
    proc.kill()
    raise RuntimeError("server did not start")
