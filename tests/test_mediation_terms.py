"""Packages are their terms: identical terms from any MESO or counter-proposal are one package; the MESO
draft tells the mediator what each package does for everyone; old databases migrate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from mediation_helpers import CASE, LANDLORD, TENANT, Actors, database_urls, fresh_database
from parley.mediation.app import create_app
from parley.mediation.db import make_engine


@pytest.fixture(params=database_urls())
def client(request, tmp_path):
    url, cleanup = fresh_database(request.param, tmp_path)
    app = create_app(url)
    with TestClient(app) as c:
        yield c
    app.state.sessions.kw["bind"].dispose()
    cleanup()


def approve(case, draft_id, body=None):
    r = case.client.post(case.url(f"/drafts/{draft_id}/approve"), headers=case.mediator, json=body or {})
    assert r.status_code == 200, r.text


def answer(case, who, package_id, decision="accept"):
    return case.client.post(case.url(f"/packages/{package_id}/response"), headers=case.parties[who], json={"decision": decision})


def test_identical_terms_from_two_mesos_are_one_package_and_reach_agreement(case):
    for_tenant, for_landlord = case.meso("Tenant"), case.meso("Landlord")
    approve(case, for_tenant["id"])
    approve(case, for_landlord["id"])
    shared = [p["terms"] for p in for_tenant["payload"]["packages"] if p["terms"] in
              [q["terms"] for q in for_landlord["payload"]["packages"]]]
    assert shared, "both MESOs start from the same fair anchor"
    packages = case.view("mediator")["packages"]
    assert len(packages) == 6 - len(shared)
    merged = next(p for p in packages if p["terms"] == shared[0])
    assert merged["offered_to"] == ["Landlord", "Tenant"]
    # Each party reads only its own rationale of the shared package.
    tenant_view = next(p for p in case.view("Tenant")["packages"] if p["id"] == merged["id"])
    landlord_view = next(p for p in case.view("Landlord")["packages"] if p["id"] == merged["id"])
    assert tenant_view["rationale"] == for_tenant["payload"]["packages"][0]["rationale"]
    assert landlord_view["rationale"] == for_landlord["payload"]["packages"][0]["rationale"]
    assert answer(case, "Tenant", merged["id"]).json()["status"] == "open"
    assert answer(case, "Landlord", merged["id"]).json() == {"status": "agreed", "agreement_package_id": merged["id"]}


def test_a_counter_with_terms_already_on_the_table_merges_and_can_complete_the_agreement(case):
    draft = case.meso("Tenant")
    approve(case, draft["id"])
    package = case.view("Tenant")["packages"][1]
    assert answer(case, "Tenant", package["id"]).status_code == 200
    # The landlord proposes exactly those terms (numbers as the form sends them: 1260 vs 1260.0).
    terms = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in package["terms"].items()}
    r = case.client.post(case.url("/counter"), headers=case.parties["Landlord"], json={"terms": terms})
    approve(case, r.json()["draft_id"])
    view = case.view("mediator")
    assert len(view["packages"]) == 3 and view["status"] == "agreed" and view["agreement_package_id"] == package["id"]
    actions = [e["action"] for e in case.client.get(case.url("/audit"), headers=case.mediator).json()]
    assert actions[-2:] == ["draft_approved", "agreement_reached"]


def test_meso_draft_reports_efficiency_and_the_others_gains_but_no_private_numbers(case):
    draft = case.meso("Tenant", rule="kalai-smorodinsky", privacy_margin=0.05)
    payload = draft["payload"]
    assert payload["rule"] == "kalai-smorodinsky" and payload["privacy_margin"] == 0.05
    for p in payload["packages"]:
        assert p["efficient"] is True and p["others_gain_sum"] >= p["others_gain_min"] >= 0
        assert payload["band"][0] - 1e-9 <= p["value"] <= payload["band"][1] + 1e-9
        assert min(abs(p["terms"]["Rent"] - 1230), abs(p["terms"]["Rent"] - 1450)) >= 30 - 1e-6  # margin kept
    assert "1230" not in json.dumps(payload) and "0.15" not in json.dumps(payload)  # the landlord's own numbers
    bad = case.client.post(case.url("/meso"), headers=case.mediator, json={"party_id": case.party_ids["Tenant"], "rule": "coin"})
    assert bad.status_code == 422 and "rule" in bad.json()["detail"]


def test_no_meso_names_the_party_and_the_smallest_relaxation(client):
    actors = Actors(client)
    greedy = {**LANDLORD, "issues": {**LANDLORD["issues"], "Rent": {"weight": 2, "ideal": 1600, "reservation": 1590}}}
    actors.enter_constraints(Tenant=TENANT, Landlord=greedy)
    r = client.post(actors.url("/meso"), headers=actors.mediator, json={"party_id": actors.party_ids["Tenant"]})
    assert r.status_code == 409
    assert "proved that no package is acceptable" in r.json()["detail"]
    assert "moves its reservation on Rent by" in r.json()["detail"] and ("Landlord" in r.json()["detail"] or "Tenant" in r.json()["detail"])


def test_stepped_issues_give_terms_on_the_step_and_counters_off_it_are_refused(client):
    case = {**CASE, "issues": [{**CASE["issues"][0], "step": 25}, {**CASE["issues"][1], "step": 1}, CASE["issues"][2]]}
    actors = Actors(client, case)
    actors.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
    for p in actors.meso("Tenant")["payload"]["packages"]:
        assert (p["terms"]["Rent"] - 1000) % 25 == 0 and float(p["terms"]["Term"]).is_integer()
    r = client.post(actors.url("/counter"), headers=actors.parties["Landlord"],
                    json={"terms": {"Rent": 1310, "Term": 18, "Start": "June"}})
    assert r.status_code == 422 and "multiple of the step 25" in r.json()["detail"]


def test_a_database_from_before_terms_were_merged_migrates(tmp_path):
    """Revision 0001 rows (one package per offer, rationale on the package) become packages with offers."""
    from alembic import command
    from alembic.config import Config
    from pathlib import Path

    import parley.mediation.db as db

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).with_name("migrations")))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.execute(text("INSERT INTO cases (id, title, issues, status, mediator_token_hash, created_at) "
                                "VALUES (1, 'Old', :issues, 'open', 'h', CURRENT_TIMESTAMP)"),
                           {"issues": json.dumps(CASE["issues"])})
        for pid in (1, 2):
            connection.execute(text("INSERT INTO parties (id, case_id, name, token_hash) VALUES (:i, 1, :n, :h)"),
                               {"i": pid, "n": f"P{pid}", "h": f"h{pid}"})
        connection.execute(text("INSERT INTO drafts (id, case_id, kind, party_id, author, payload, status, leak_blocked, "
                                "review_note, created_at) VALUES (1, 1, 'meso', 1, 'ai', '{}', 'approved', 0, '', CURRENT_TIMESTAMP)"))
        terms = json.dumps({"Rent": 1300, "Term": 18, "Start": "June"})
        for pkg, party in ((1, 1), (2, 2)):  # the same terms offered to both parties: two rows before 0002
            connection.execute(text("INSERT INTO packages (id, case_id, draft_id, terms, offered_to, rationale, source, created_at) "
                                    "VALUES (:p, 1, 1, :t, :o, :r, 'meso', CURRENT_TIMESTAMP)"),
                               {"p": pkg, "t": terms, "o": party, "r": f"why, P{party}"})
        connection.execute(text("INSERT INTO responses (package_id, party_id, decision, at) VALUES (1, 1, 'accept', CURRENT_TIMESTAMP)"))
        for action in ("case_created", "constraints_entered", "package_accepted"):
            connection.execute(text("INSERT INTO audit_events (case_id, at, actor, action, detail) "
                                    "VALUES (1, '2026-01-02 03:04:05.123456', 'mediator', :a, '{\"k\": 1}')"), {"a": action})
    engine.dispose()
    db.open_database(url).kw["bind"].dispose()
    with create_engine(url).connect() as c:
        keys = c.execute(text("SELECT terms_key FROM packages ORDER BY id")).scalars().all()
        offers = c.execute(text("SELECT package_id, party_id, rationale FROM package_offers ORDER BY id")).all()
        assert c.execute(text("SELECT count(*) FROM responses")).scalar() == 1
        assert c.execute(text("PRAGMA foreign_key_check")).all() == []
    assert keys[0] == keys[1] and len(keys[0]) == 64
    assert [tuple(o) for o in offers] == [(1, 1, "why, P1"), (2, 2, "why, P2")]

    # 0003: the old audit rows are chained; the old party links became unclaimed invitations; the case has no
    # mediator until one adopts it.
    from sqlalchemy.orm import Session

    from parley.mediation import audit

    with Session(create_engine(url)) as s:
        [chain] = audit.verify(s)
        assert (chain.case_id, chain.events, chain.broken) == (1, 3, None)
    with create_engine(url).connect() as c:
        assert c.execute(text("SELECT invite_hash, claimed_at FROM parties WHERE id = 1")).one() == ("h1", None)
        assert c.execute(text("SELECT mediator_id FROM cases")).scalar() is None
    r = subprocess.run([sys.executable, "-m", "parley.cli.main", "mediator", "create", "old@example.org",
                        "--database-url", url, "--adopt-orphans"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PARLEY_MEDIATOR_PASSWORD": "correct horse battery"})
    assert r.returncode == 0 and "adopted 1 case(s)" in r.stdout, r.stderr
    with create_engine(url).connect() as c:
        assert c.execute(text("SELECT mediator_id FROM cases")).scalar() == 1


def test_mediator_create_from_the_cli_and_its_mistakes(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def create(email, password):
        return subprocess.run([sys.executable, "-m", "parley.cli.main", "mediator", "create", email, "--database-url", url],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PARLEY_MEDIATOR_PASSWORD": password})

    r = create("Mediator@Example.org", "correct horse battery")
    assert r.returncode == 0 and "mediator@example.org created" in r.stdout, r.stderr
    for email, password, needle in (("mediator@example.org", "correct horse battery", "already exists"),
                                    ("not-an-email", "correct horse battery", "not an e-mail"),
                                    ("new@example.org", "short", "at least 10")):
        r = create(email, password)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    app = create_app(url)
    with TestClient(app) as client:
        assert client.post("/api/login", json={"email": "mediator@example.org", "password": "correct horse battery"}).status_code == 200
    app.state.sessions.kw["bind"].dispose()
