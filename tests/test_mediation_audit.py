"""The audit log: hash-chained (tampering with a copy is found and named), append-only for the service's
own PostgreSQL role, complete (every state change has an event), and no secret ever reaches a server log."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from mediation_helpers import (LANDLORD, PG_URL, TENANT, Actors, claim, csrf_of, free_port, mediator_session,
                               start_server, CASE)
from parley.mediation.app import create_app


def _verify(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parley.cli.main", "audit", "verify", "--database-url", url, *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A SQLite database holding two cases with a full history: agreement, sign-off, a rejected draft, a message."""
    path = tmp_path_factory.mktemp("audit") / "original.db"
    app = create_app(f"sqlite:///{path}")
    with TestClient(app) as client:
        for email in ("a@example.org", "b@example.org"):
            case = Actors(client, email=email)
            case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
            rejected = case.meso("Landlord")
            client.post(case.url(f"/drafts/{rejected['id']}/reject"), headers=case.mediator, json={"reason": "later"})
            draft = case.meso("Tenant")
            client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
            client.post(case.url("/messages"), headers=case.mediator, json={"text": "hello"})
            pkg = case.view("Tenant")["packages"][0]["id"]
            for name in ("Tenant", "Landlord"):
                client.post(case.url(f"/packages/{pkg}/response"), headers=case.parties[name], json={"decision": "accept"})
            client.post(case.url("/sign-off"), headers=case.mediator)
    app.state.sessions.kw["bind"].dispose()
    return path


def _tampered(recorded, tmp_path, *statements: str) -> str:
    copy = tmp_path / "copy.db"
    shutil.copy(recorded, copy)
    con = sqlite3.connect(copy)
    # Whoever tampers with a copy is not bound by the triggers: drop them first.
    con.execute("DROP TRIGGER audit_events_no_update")
    con.execute("DROP TRIGGER audit_events_no_delete")
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    return f"sqlite:///{copy}"


def test_an_untouched_log_verifies_and_prints_each_head(recorded):
    r = _verify(f"sqlite:///{recorded}")
    assert r.returncode == 0 and "2 case chain(s) intact" in r.stdout, r.stdout + r.stderr
    r = _verify(f"sqlite:///{recorded}", "--case", "2")
    assert r.returncode == 0 and "1 case chain(s) intact" in r.stdout


@pytest.mark.parametrize("tamper, row, reason", [
    # Changed content: the mediator rewrites the reason it gave for a rejection.
    (["UPDATE audit_events SET detail = '{\"draft_id\": 1, \"kind\": \"meso\", \"reason\": \"never\"}' "
      "WHERE case_id = 1 AND action = 'draft_rejected'"], "draft_rejected", "content does not match"),
    # A deleted row: the rejected draft vanishes from the history.
    (["DELETE FROM audit_events WHERE case_id = 1 AND action = 'draft_rejected'"], "after", "sequence number"),
    # INSERT OR REPLACE of a row with the same id, sequence number and hash, other content.
    (["INSERT OR REPLACE INTO audit_events (id, case_id, seq, at, actor, action, detail, prev_hash, hash) "
      "SELECT id, case_id, seq, at, 'party:2', action, detail, prev_hash, hash FROM audit_events "
      "WHERE case_id = 1 AND action = 'agreement_signed'"], "agreement_signed", "content does not match"),
    # Two rows swapped (every column but the id): the order of events is rewritten.
    (["UPDATE audit_events SET id = -1 WHERE case_id = 1 AND seq = 2",
      "UPDATE audit_events SET id = 2 WHERE case_id = 1 AND seq = 3",
      "UPDATE audit_events SET id = 3 WHERE id = -1"], "reorder", "reordered"),
    # A row inserted with a made-up hash in the middle of the chain.
    (["UPDATE audit_events SET seq = seq + 1000 WHERE case_id = 1 AND seq >= 4",
      "UPDATE audit_events SET seq = seq - 999 WHERE case_id = 1 AND seq >= 1000",
      "INSERT INTO audit_events (case_id, seq, at, actor, action, detail, prev_hash, hash) VALUES "
      "(1, 4, '2026-01-01 00:00:00.000000', 'party:1', 'package_accepted', '{}', 'x', 'y')"], "inserted", "prev_hash"),
])
def test_each_kind_of_tampering_is_found_and_the_first_broken_row_named(recorded, tmp_path, tamper, row, reason):
    r = _verify(_tampered(recorded, tmp_path, *tamper))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "audit chain broken at row id" in r.stderr and "case 1" in r.stderr and reason in r.stderr, r.stderr
    # The other case's chain is untouched and says so.
    assert re.search(r"│ 2\s+│.*intact", r.stdout), r.stdout


def test_the_reorder_case_really_swapped_rows(recorded, tmp_path):
    url = _tampered(recorded, tmp_path, "UPDATE audit_events SET id = -1 WHERE case_id = 1 AND seq = 2",
                    "UPDATE audit_events SET id = 2 WHERE case_id = 1 AND seq = 3",
                    "UPDATE audit_events SET id = 3 WHERE id = -1")
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    assert con.execute("SELECT seq FROM audit_events WHERE case_id = 1 ORDER BY id LIMIT 3").fetchall() == [(1,), (3,), (2,)]
    con.close()
    r = _verify(url)
    assert r.returncode == 1 and "reordered" in r.stderr


def test_every_state_change_has_its_own_event(recorded):
    con = sqlite3.connect(recorded)
    actions = {a for (a,) in con.execute("SELECT DISTINCT action FROM audit_events")}
    con.close()
    assert {"case_created", "seat_claimed", "constraints_entered", "meso_drafted", "draft_rejected", "draft_approved",
            "package_tabled", "message_sent", "package_accepted", "agreement_reached", "agreement_signed"} <= actions


def test_verify_reports_an_unreadable_database_in_one_line(tmp_path):
    r = _verify(f"sqlite:///{tmp_path / 'missing' / 'nope.db'}")
    assert r.returncode == 2 and "could not read the audit log" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- PostgreSQL: the service's role


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="no PostgreSQL server: set PARLEY_TEST_DATABASE_URL (.ci/run starts one)")
def test_the_service_role_cannot_update_delete_or_truncate_the_audit_log():
    import psycopg

    name, password = f"parley_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'parley_service'").fetchone()
        if not exists:
            admin.execute(f"CREATE ROLE parley_service LOGIN PASSWORD '{password}'")
        else:
            admin.execute(f"ALTER ROLE parley_service LOGIN PASSWORD '{password}'")
    base = PG_URL.rsplit("/", 1)[0]
    owner_url = f"{base}/{name}"
    host = base.split("@", 1)[1]
    service_url = f"postgresql://parley_service:{password}@{host}/{name}"
    try:
        r = subprocess.run([sys.executable, "-m", "parley.cli.main", "db", "upgrade", "--database-url", owner_url],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        # The service runs as parley_service: a whole case works...
        app = create_app(service_url)
        with TestClient(app) as client:
            case = Actors(client)
            case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
            case.meso("Tenant")
        app.state.sessions.kw["bind"].dispose()
        # ...but the audit log is beyond its reach, TRUNCATE included (which no row trigger sees).
        with psycopg.connect(service_url, autocommit=True) as service:
            for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events",
                              "TRUNCATE audit_events"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    service.execute(statement)
            assert service.execute("SELECT count(*) FROM audit_events").fetchone()[0] >= 6
        assert _verify(service_url).returncode == 0
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- no secret in the server's log


def test_no_invitation_or_session_secret_ever_reaches_the_server_log(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    secrets: list[str] = []
    with open(log_path, "wb") as log:
        proc = start_server(f"sqlite:///{tmp_path / 'log.db'}", port, log=log, extra=("--public-url", base))
        try:
            with httpx.Client(base_url=base) as api:
                mediator = mediator_session(api)
                secrets.append(mediator["Authorization"].split()[1])
                created = api.post("/api/cases", json=CASE, headers=mediator).json()
                invitations = [p["invitation"] for p in created["parties"]]
                secrets += invitations
                # The tenant goes through the pages (invitation link, claim, forms); the landlord through the API.
                with httpx.Client(base_url=base, follow_redirects=True) as page:
                    opened = page.get(f"/i/{invitations[0]}")
                    page.post("/claim", data={"csrf": csrf_of(opened.text), "invitation": invitations[0]})
                    secrets.append(page.cookies["parley_session"])
                    form = {"w0": "3", "ideal0": "1000", "res0": "1450", "w1": "1", "ideal1": "36", "res1": "12",
                            "w2": "1", "r2_0": "0.2", "r2_1": "1", "r2_2": "0.6", "min_value": "0.2"}
                    r = page.post("/p/constraints", data={"csrf": csrf_of(page.get("/p").text), **form})
                    assert r.status_code == 200
                    page.post("/p/passcode", data={"csrf": csrf_of(page.get("/p").text), "passcode": "blue tulip 42"})
                landlord = claim(api, invitations[1])
                secrets.append(landlord["Authorization"].split()[1])
                api.put(f"/api/cases/{created['case_id']}/constraints", json=LANDLORD, headers=landlord)
                draft = api.post(f"/api/cases/{created['case_id']}/meso", headers=mediator,
                                 json={"party_id": created["parties"][0]["party_id"]}).json()
                api.post(f"/api/cases/{created['case_id']}/drafts/{draft['id']}/approve", headers=mediator, json={})
                again = api.post(f"/api/cases/{created['case_id']}/parties/{created['parties'][1]['party_id']}/invitation",
                                 headers=mediator).json()
                secrets.append(again["invitation"])
                api.get(f"/i/{again['invitation']}")
                api.get(f"/i/{invitations[0]}")  # a used one, opened again
                phone = api.post("/api/seat-login", json={"case_id": created["case_id"],
                                                          "party_id": created["parties"][0]["party_id"],
                                                          "passcode": "blue tulip 42"}).json()
                secrets.append(phone["token"])
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log_path.read_text()
    assert "/i/[redacted]" in text and "POST /claim" in text  # the log is there and did see those requests
    assert len(secrets) == 7 and all(len(s) > 20 for s in secrets)
    assert [s for s in secrets if s in text] == []
