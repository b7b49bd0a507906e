"""The mediation service as a mediator's daily tool: the dashboard, e-mailed invitations and notices (against a
local SMTP server), deadlines and reminders, closing and archiving, changing an answer, time zones, the
PDF and JSON exports, and a response schema on every route."""

from __future__ import annotations

import importlib
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from mediation_helpers import CASE, LANDLORD, TENANT, Actors, browser_mediator, browser_party, claim, post_form
from parley.mediation import audit
from parley.mediation.app import create_app, send_reminders


@pytest.fixture
def app(db_url, inbox):
    application = create_app(db_url, public_url="https://mediation.example.org",
                             smtp_url=f"smtp://127.0.0.1:{inbox.port}", mail_from="parley@mediation.example.org")
    yield application
    application.state.sessions.kw["bind"].dispose()


WITH_EMAIL = {**CASE, "parties": [{"name": "Tenant", "email": "tenant@example.org"},
                                  {"name": "Landlord", "email": "Landlord@Example.org"}]}
LINK = re.compile(r"https://mediation\.example\.org/i/\S+")


def test_emailed_invitations_never_reach_the_mediator_and_work_once(app, client, inbox):
    case = Actors(client, WITH_EMAIL, claim_seats=False)
    for p in case.created["parties"]:
        assert p["invitation"] == "" and p["link"] == "" and p["emailed_to"] in ("t***@example.org", "l***@example.org")
    inbox.wait_for(2)
    mail = inbox.to("tenant@example.org")[0]
    assert "Flat lease" in mail["Subject"] and mail["From"] == "parley@mediation.example.org"
    link = LINK.search(mail.get_content()).group(0)
    # What the mediator can fetch never holds the invitation.
    secret = link.rsplit("/", 1)[1]
    for path in ("", "/audit", "/drafts?status=all"):
        assert secret not in client.get(case.url(path), headers=case.mediator).text
    party = browser_party(app, secret)
    assert party.get("/p").status_code == 200
    assert client.post("/api/claim", json={"invitation": secret}).status_code == 404
    actions = [e["action"] for e in client.get(case.url("/audit"), headers=case.mediator).json()]
    assert actions.count("invitation_emailed") == 2
    # A re-issued invitation goes by e-mail too.
    r = client.post(case.url(f"/parties/{case.party_ids['Landlord']}/invitation"), headers=case.mediator)
    assert r.status_code == 201 and r.json()["link"] == "" and r.json()["emailed_to"] == "l***@example.org"
    inbox.wait_for(3)
    assert len(inbox.to("landlord@example.org")) == 2


def test_notices_for_new_proposals_and_the_agreement(app, client, inbox):
    case = Actors(client, WITH_EMAIL, claim_seats=False)
    inbox.wait_for(2)
    seats = {name: claim(client, LINK.search(inbox.to(address)[0].get_content()).group(0).rsplit("/", 1)[1])
             for name, address in (("Tenant", "tenant@example.org"), ("Landlord", "landlord@example.org"))}
    case.parties = seats
    case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    inbox.wait_for(3)
    assert [m["Subject"] for m in inbox.to("tenant@example.org")][-1].startswith("New proposals")
    assert len(inbox.to("landlord@example.org")) == 1  # the tenant's MESO is not news to the landlord
    pkg = client.get(case.url(), headers=seats["Tenant"]).json()["packages"][0]["id"]
    for name in ("Tenant", "Landlord"):
        client.post(case.url(f"/packages/{pkg}/response"), headers=seats[name], json={"decision": "accept"})
    inbox.wait_for(6)
    agreed = [m for m in inbox.messages if m["Subject"].startswith("Agreement")]
    assert sorted(m["To"] for m in agreed) == ["landlord@example.org", "mediator@example.org", "tenant@example.org"]
    for m in inbox.messages:  # no private number in any e-mail
        assert not re.search(r"\b(1450|1230)\b", m.get_content())


def test_deadline_reminders_go_out_once_a_day_before(app, client, inbox):
    soon = (datetime.now(timezone.utc) + timedelta(hours=5)).isoformat()
    later = (datetime.now(timezone.utc) + timedelta(days=5)).isoformat()
    near = Actors(client, {**WITH_EMAIL, "deadline": soon}, claim_seats=False)
    inbox.wait_for(2)
    tenant = claim(client, LINK.search(inbox.to("tenant@example.org")[0].get_content()).group(0).rsplit("/", 1)[1])
    far = Actors(client, {**WITH_EMAIL, "title": "Far away", "deadline": later}, email="other@example.org",
                 claim_seats=False)
    client.put("/api/timezone", headers=tenant, json={"timezone": "Asia/Tokyo"})
    inbox.wait_for(4)
    assert send_reminders(app) == 1 and send_reminders(app) == 0
    inbox.wait_for(7)
    reminders = [m for m in inbox.messages if m["Subject"].startswith("Deadline near")]
    assert sorted(m["To"] for m in reminders) == ["landlord@example.org", "mediator@example.org", "tenant@example.org"]
    assert "JST" in next(m for m in reminders if m["To"] == "tenant@example.org").get_content()
    assert all("Flat lease" in m["Subject"] for m in reminders)
    log = [e["action"] for e in client.get(near.url("/audit"), headers=near.mediator).json()]
    assert log.count("deadline_reminder_sent") == 1
    assert client.get(far.url(), headers=far.mediator).json()["deadline"][:16] == later[:16]


# ---------------------------------------------------------------- without e-mail: the rest of the daily tool


@pytest.fixture
def plain(tmp_path):
    application = create_app(f"sqlite:///{tmp_path / 'daily.db'}")
    with TestClient(application) as c:
        yield application, c
    application.state.sessions.kw["bind"].dispose()


def test_the_dashboard_shows_progress_and_last_activity_and_archives(plain):
    app, client = plain
    case = Actors(client)
    case.enter_constraints(Tenant=TENANT)
    other = Actors(client, {**CASE, "title": "Second"}, claim_seats=False)
    case.meso  # noqa: B018 (the first case waits for the landlord's constraints)
    rows = {c["title"]: c for c in client.get("/api/cases", headers=case.mediator).json()}
    assert (rows["Flat lease"]["claimed"], rows["Flat lease"]["constraints_entered"], rows["Flat lease"]["parties"]) == (2, 1, 2)
    assert (rows["Second"]["claimed"], rows["Second"]["constraints_entered"]) == (0, 0)
    assert rows["Flat lease"]["last_activity"] >= rows["Flat lease"]["created_at"]
    assert client.put(other.url("/archived"), headers=case.mediator, json={"archived": True}).status_code == 204
    assert [c["title"] for c in client.get("/api/cases", headers=case.mediator).json()] == ["Flat lease"]
    assert [c["title"] for c in client.get("/api/cases?archived=true", headers=case.mediator).json()] == ["Second"]
    page = browser_mediator(app).get("/")
    assert "1/2 constraints in" in page.text and "Second" not in page.text


def test_closing_a_case_stops_it_and_says_so(plain):
    _, client = plain
    case = Actors(client)
    case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    assert client.post(case.url("/close"), headers=case.mediator, json={"reason": "parties went to court"}).status_code == 204
    pkg = case.view("Tenant")["packages"][0]["id"]
    r = client.post(case.url(f"/packages/{pkg}/response"), headers=case.parties["Tenant"], json={"decision": "accept"})
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    assert case.view("Tenant")["status"] == "closed"
    assert client.post(case.url("/meso"), headers=case.mediator, json={"party_id": case.party_ids["Tenant"]}).status_code == 409


def test_a_party_may_change_its_answer_until_the_agreement(plain):
    _, client = plain
    case = Actors(client)
    case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    pkg = case.view("Tenant")["packages"][0]["id"]
    answer = lambda name, d: client.post(case.url(f"/packages/{pkg}/response"), headers=case.parties[name],  # noqa: E731
                                         json={"decision": d})
    assert answer("Tenant", "reject").json()["status"] == "open"
    assert answer("Landlord", "accept").json()["status"] == "open"
    assert answer("Tenant", "accept").json() == {"status": "agreed", "agreement_package_id": pkg}
    changed = [e for e in client.get(case.url("/audit"), headers=case.mediator).json() if e["action"] == "package_response_changed"]
    assert len(changed) == 1 and (changed[0]["detail"]["before"], changed[0]["detail"]["after"]) == ("reject", "accept")
    r = answer("Landlord", "reject")
    assert r.status_code == 409 and "agreed" in r.json()["detail"]


def test_deadlines_must_lie_ahead_and_are_audited(plain):
    _, client = plain
    case = Actors(client)
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    r = client.put(case.url("/deadline"), headers=case.mediator, json={"deadline": past})
    assert r.status_code == 422 and "future" in r.json()["detail"]
    r = client.put(case.url("/deadline"), headers=case.mediator, json={"deadline": "2030-01-01T12:00:00"})
    assert r.status_code == 422 and "timezone" in r.json()["detail"].lower()  # a time without its zone is ambiguous
    assert client.put(case.url("/deadline"), headers=case.mediator, json={"deadline": "2030-01-01T12:00:00+01:00"}).status_code == 204
    shown = datetime.fromisoformat(case.view("Landlord")["deadline"].replace("Z", "+00:00"))
    assert shown == datetime(2030, 1, 1, 11, tzinfo=timezone.utc)
    assert client.put(case.url("/deadline"), headers=case.mediator, json={"deadline": None}).status_code == 204
    assert [e["action"] for e in client.get(case.url("/audit"), headers=case.mediator).json()].count("deadline_set") == 2


def test_pages_show_times_in_the_viewers_zone(plain):
    app, client = plain
    case = Actors(client, claim_seats=False)
    assert client.put("/api/timezone", headers=case.mediator, json={"timezone": "Mars/Olympus"}).status_code == 422
    browser = browser_mediator(app)
    assert post_form(browser, "/", "/settings/timezone", {"timezone": "Asia/Tokyo", "back": "/"}).status_code == 200
    for elsewhere in ("//evil.example.com", "/\\evil.example.com", "https://evil.example.com"):  # no open redirect
        r = post_form(browser, "/", "/settings/timezone", {"timezone": "Asia/Tokyo", "back": elsewhere},
                      follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/", elsewhere
    page = browser.get(f"/cases/{case.case_id}").text
    assert "Times in Asia/Tokyo" in page and " JST" in page
    client.post(case.url("/messages"), headers=case.mediator, json={"text": "welcome"})
    party = browser_party(app, case.invitations["Tenant"])
    assert re.search(r"\d\d:\d\d UTC:", party.get("/p").text)  # each viewer's own zone: the party chose none


def _pango() -> bool:
    try:
        importlib.import_module("weasyprint")  # loads Pango, which .ci/run installs
    except (ImportError, OSError):
        return False
    return True


@pytest.mark.skipif(not _pango(), reason="WeasyPrint cannot load Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0")
def test_the_signed_agreement_exports_as_pdf_and_json_with_the_audit_head(plain):
    app, client = plain
    case = Actors(client)
    case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    pkg = case.view("Tenant")["packages"][0]["id"]
    for name in ("Tenant", "Landlord"):
        client.post(case.url(f"/packages/{pkg}/response"), headers=case.parties[name], json={"decision": "accept"})
    client.post(case.url("/sign-off"), headers=case.mediator)
    data = client.get(case.url("/agreement"), headers=case.parties["Tenant"]).json()
    with app.state.readers() as s:
        chain = audit.verify_case(s, case.case_id)
    assert data["audit"] == {"events": chain.events, "head_hash": chain.head, "intact": True}
    pdf = client.get(case.url("/agreement.pdf"), headers=case.parties["Landlord"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"] and len(pdf.content) > 2000
    browser = browser_mediator(app)  # the pages offer the same downloads
    assert browser.get(f"/cases/{case.case_id}/agreement.pdf").content.startswith(b"%PDF")
    exported = json.loads(browser.get(f"/cases/{case.case_id}/agreement.json").content)
    assert exported["terms"] == data["terms"] and exported["audit"]["head_hash"] == chain.head
    assert browser.get(f"/cases/{case.case_id}/agreement.exe").status_code == 404


def test_every_route_documents_its_response(plain):
    app, _ = plain
    spec = app.openapi()
    missing = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
            assert ok, (method, path)
            for code, response in ok.items():
                if code == "204":
                    continue
                schema = next(iter(response.get("content", {}).values()), {}).get("schema")
                if not schema:
                    missing.append(f"{method.upper()} {path} {code}")
    assert missing == []
    assert len(spec["paths"]) >= 25
