"""The mediation service through its HTTP API: the review gate, privacy, agreement, bad input."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mediation_helpers import (CASE, LANDLORD, SECRETS_OF_LANDLORD, TENANT, Actors, browser_mediator, browser_party,
                               claim, database_urls, fresh_database, mediator_session, post_form)
from parley.mediation.app import create_app
from parley.mediation.rationale import RationaleRequest


@pytest.fixture(params=database_urls())
def app(request, tmp_path):
    url, cleanup = fresh_database(request.param, tmp_path)
    application = create_app(url)
    yield application
    application.state.sessions.kw["bind"].dispose()
    cleanup()


def test_whole_case_review_gate_then_agreement_and_sign_off(client, case):
    draft = case.meso("Tenant")
    assert draft["status"] == "pending" and len(draft["payload"]["packages"]) >= 3
    # Nothing reaches a party before the mediator approves it.
    assert case.view("Tenant")["packages"] == [] and case.view("Landlord")["packages"] == []

    r = client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator,
                    json={"rationales": ["Edited by the mediator."] + [p["rationale"] for p in draft["payload"]["packages"][1:]]})
    assert r.status_code == 200, r.text
    tenant = case.view("Tenant")["packages"]
    landlord = case.view("Landlord")["packages"]
    assert [p["terms"] for p in tenant] == [p["terms"] for p in draft["payload"]["packages"]]
    assert tenant[0]["rationale"] == "Edited by the mediator."
    assert all(p["rationale"] == "" for p in landlord)  # the tenant's rationale speaks to the tenant only
    values = [p["value_to_you"] for p in tenant]
    assert max(values) - min(values) <= draft["payload"]["tolerance"] + 1e-9

    chosen = tenant[1]["id"]
    assert client.post(case.url(f"/packages/{chosen}/response"), headers=case.parties["Tenant"],
                       json={"decision": "accept"}).json()["status"] == "open"
    r = client.post(case.url(f"/packages/{chosen}/response"), headers=case.parties["Landlord"], json={"decision": "accept"})
    assert r.json() == {"status": "agreed", "agreement_package_id": chosen}
    assert client.post(case.url("/sign-off"), headers=case.mediator).status_code == 204
    agreement = client.get(case.url("/agreement"), headers=case.parties["Landlord"]).json()
    assert agreement["terms"] == tenant[1]["terms"] and agreement["signed_at"]
    page = client.get(case.url("/agreement.html"), headers=case.parties["Tenant"])
    assert page.status_code == 200 and "Signed off by the mediator" in page.text

    log = client.get(case.url("/audit"), headers=case.mediator).json()
    actions = [e["action"] for e in log if e["action"] != "package_tabled"]
    assert actions == ["case_created", "seat_claimed", "seat_claimed", "constraints_entered", "constraints_entered",
                       "meso_drafted", "draft_approved", "package_accepted", "package_accepted", "agreement_reached",
                       "agreement_signed"]
    # Every package put on the table has its own event; the edit keeps the AI's text beside the approved one.
    assert sum(e["action"] == "package_tabled" for e in log) == len(draft["payload"]["packages"])
    approved = next(e for e in log if e["action"] == "draft_approved")["detail"]
    assert approved["edited"] and approved["approved_texts"] == ["Edited by the mediator."]
    assert approved["ai_texts"] == [draft["payload"]["packages"][0]["rationale"]]
    stored = client.get(case.url("/drafts?status=approved"), headers=case.mediator).json()[0]["payload"]["packages"][0]
    assert (stored["ai_rationale"], stored["rationale"]) == (draft["payload"]["packages"][0]["rationale"], "Edited by the mediator.")
    # After agreement the case takes no more proposals.
    assert client.post(case.url("/meso"), headers=case.mediator, json={"party_id": case.party_ids["Tenant"]}).status_code == 409


def test_rejected_drafts_never_reach_parties_and_stay_in_the_audit_log(client, case):
    draft = case.meso("Landlord")
    r = client.post(case.url(f"/drafts/{draft['id']}/reject"), headers=case.mediator, json={"reason": "too early"})
    assert r.json()["status"] == "rejected"
    assert case.view("Landlord")["packages"] == []
    assert client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={}).status_code == 409
    log = client.get(case.url("/audit"), headers=case.mediator).json()
    assert (log[-1]["action"], log[-1]["detail"]["reason"]) == ("draft_rejected", "too early")
    queue = client.get(case.url("/drafts?status=all"), headers=case.mediator).json()
    assert [d["status"] for d in queue] == ["rejected"]


def test_counter_proposal_goes_through_review_and_counts_as_its_authors_accept(client, case):
    terms = {"Rent": 1300, "Term": 18, "Start": "June"}
    r = client.post(case.url("/counter"), headers=case.parties["Landlord"], json={"terms": terms, "note": "<b>fair</b>"})
    assert r.status_code == 202
    assert case.view("Tenant")["packages"] == []
    draft_id = r.json()["draft_id"]
    client.post(case.url(f"/drafts/{draft_id}/approve"), headers=case.mediator, json={})
    pkg = case.view("Tenant")["packages"][0]
    assert pkg["terms"] == terms and pkg["responses"] == [{"party": "Landlord", "decision": "accept", "rank": None}]
    assert case.view("Tenant")["messages"][0]["text"] == "<b>fair</b>"  # stored as typed; escaped on render
    r = client.post(case.url(f"/packages/{pkg['id']}/response"), headers=case.parties["Tenant"],
                    json={"decision": "accept", "rank": 1})
    assert r.json()["status"] == "agreed"
    assert {"party": "Tenant", "decision": "accept", "rank": 1} in case.view("mediator")["packages"][0]["responses"]


# ---------------------------------------------------------------- authorization


def test_party_cannot_read_other_constraints_drafts_or_cases(client, case):
    other = Actors(client, email="other@example.org")
    tenant, landlord = case.parties["Tenant"], case.parties["Landlord"]
    assert client.get(case.url("/constraints"), headers=tenant).json()["issues"]["Rent"]["reservation"] == 1450
    # Nothing a tenant can fetch contains the landlord's private numbers.
    case.meso("Tenant")
    for path in ("", "/constraints"):
        body = client.get(case.url(path), headers=tenant).text
        assert "1230" not in body and '"reservation": 30' not in body
    for path in ("/drafts", "/audit"):
        assert client.get(case.url(path), headers=tenant).status_code == 403
    assert client.post(case.url("/meso"), headers=tenant, json={"party_id": case.party_ids["Tenant"]}).status_code == 403
    assert client.post(case.url("/drafts/1/approve"), headers=tenant, json={}).status_code == 403
    assert client.post(case.url("/sign-off"), headers=landlord).status_code == 403
    # Another case's tokens see nothing of this one (404, as if it did not exist).
    for headers in (other.mediator, other.parties["Tenant"]):
        assert client.get(case.url(), headers=headers).status_code == 404
        assert client.get(case.url("/constraints"), headers=headers).status_code in (403, 404)
        assert client.post(case.url("/drafts/1/approve"), headers=headers, json={}).status_code in (403, 404)
    # The mediator sees that constraints were entered, never their values.
    mediator_view = client.get(case.url(), headers=case.mediator).text
    assert "1450" not in mediator_view and "1230" not in mediator_view
    assert client.get(case.url("/constraints"), headers=case.mediator).status_code == 403
    assert client.get(case.url(), headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(case.url()).status_code == 401


def test_every_api_route_refuses_a_missing_or_foreign_token(app, client, case):
    other = Actors(client, email="other@example.org")
    routes = [(path, method.upper()) for path, ops in app.openapi()["paths"].items() for method in ops
              if path.startswith("/api/cases/{case_id}")]
    assert len(routes) >= 12
    for template, method in routes:
        path = template.format(case_id=case.case_id, draft_id=1, package_id=1, party_id=case.party_ids["Tenant"])
        for headers, allowed in (({}, {401}), (other.mediator, {403, 404}), (other.parties["Tenant"], {403, 404})):
            # An empty body is checked against the schema before the token is (422); either way, no data.
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code in allowed | {422}, (method, path, r.status_code, r.text)
            assert "Flat lease" not in r.text and "Rent" not in r.text


# ---------------------------------------------------------------- the AI writes only rationale text


class LeakyWriter:
    name = "leaky"

    def write(self, requests: list[RationaleRequest], seed: int = 0) -> list[str]:
        return [f"The other side cannot go below {SECRETS_OF_LANDLORD[0]} EUR." if k == 0 else "A fair package."
                for k, _ in enumerate(requests)]


def test_rationale_leaking_another_partys_number_is_blocked(tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'm.db'}", writer=LeakyWriter())
    with TestClient(app) as client:
        case = Actors(client)
        case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
        draft = case.meso("Tenant")
        assert draft["leak_blocked"] is True
        texts = [p["rationale"] for p in draft["payload"]["packages"]]
        # Everything but the hash and the time stamp, whose hex and microsecond digits can spell 1230 by chance
        # (a full-suite run failed here once; a rerun of 15 cases found no 1230 in the texts).
        visible = {k: v for k, v in draft.items() if k != "created_at"}
        visible["payload"] = {k: v for k, v in draft["payload"].items() if k != "basis"}
        assert "1230" not in json.dumps(visible) and texts[1] == "A fair package."
        assert any(e["action"] == "leak_blocked" for e in client.get(case.url("/audit"), headers=case.mediator).json())


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("body, needle", [
    ({**CASE, "parties": [{"name": "Solo"}]}, "parties"),
    ({**CASE, "issues": [{"kind": "numeric", "name": "Rent", "min": 5, "max": 1}]}, "max"),
    ({**CASE, "issues": [{"kind": "options", "name": "Start", "options": ["May", "May"]}]}, "distinct"),
    ({**CASE, "title": ""}, "title"),
    ({**CASE, "surprise": 1}, "surprise"),
])
def test_invalid_cases_get_422_naming_the_field_and_store_nothing(client, body, needle):
    mediator = mediator_session(client)
    r = client.post("/api/cases", json=body, headers=mediator)
    assert r.status_code == 422 and needle in r.json()["detail"]
    assert client.get("/api/cases", headers=mediator).json() == []


def test_out_of_range_constraints_are_refused_and_nothing_is_stored(client, case):
    other = Actors(client, email="other@example.org")
    bad = json.loads(json.dumps(TENANT))
    bad["issues"]["Rent"]["reservation"] = 5000
    r = client.put(other.url("/constraints"), headers=other.parties["Tenant"], json=bad)
    assert r.status_code == 422 and "Rent" in r.json()["detail"] and "outside the range" in r.json()["detail"]
    assert client.get(other.url("/constraints"), headers=other.parties["Tenant"]).status_code == 404
    missing = {"issues": {"Rent": TENANT["issues"]["Rent"]}, "min_value": 0}
    assert "missing" in client.put(other.url("/constraints"), headers=other.parties["Tenant"], json=missing).json()["detail"]


def test_malformed_json_oversized_bodies_and_duplicates_get_clear_4xx(client, case):
    r = client.post("/api/cases", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.text
    r = client.post("/api/cases", content=b"x" * 70_000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    pkg = case.view("Tenant")["packages"][0]["id"]
    first = client.post(case.url(f"/packages/{pkg}/response"), headers=case.parties["Tenant"], json={"decision": "reject"})
    again = client.post(case.url(f"/packages/{pkg}/response"), headers=case.parties["Tenant"], json={"decision": "reject"})
    assert first.status_code == again.status_code == 200  # the same answer twice changes nothing
    responses = client.get(case.url(), headers=case.mediator).json()["packages"][0]["responses"]
    assert responses == [{"party": "Tenant", "decision": "reject", "rank": None}]
    bad = client.post(case.url("/counter"), headers=case.parties["Tenant"], json={"terms": {"Rent": 99999, "Term": 12, "Start": "June"}})
    assert bad.status_code == 422 and "Rent" in bad.json()["detail"]


def test_meso_needs_every_partys_constraints(client):
    case = Actors(client)
    case.enter_constraints(Tenant=TENANT)
    r = client.post(case.url("/meso"), headers=case.mediator, json={"party_id": case.party_ids["Tenant"]})
    assert r.status_code == 409 and "Landlord" in r.json()["detail"]


def test_html_in_text_fields_is_escaped_on_every_page(app, client):
    evil = "<script>alert(1)</script>"
    case = Actors(client, {**CASE, "title": evil, "parties": [{"name": evil}, {"name": "B"}]}, claim_seats=False)
    client.post(case.url("/messages"), headers=case.mediator, json={"text": evil})
    party = browser_party(app, case.invitations[evil])
    mediator = browser_mediator(app)
    for page in (mediator.get(f"/cases/{case.case_id}"), mediator.get("/"), party.get("/p")):
        assert page.status_code == 200
        assert evil not in page.text and "&lt;script&gt;" in page.text


# ---------------------------------------------------------------- consistency


def test_two_parties_accepting_at_once_reach_one_consistent_agreement(app, client, case):
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    pkg = case.view("Tenant")["packages"][0]["id"]
    results, barrier = {}, threading.Barrier(2)

    def accept(name):
        with TestClient(app) as own:
            barrier.wait()
            results[name] = own.post(case.url(f"/packages/{pkg}/response"), headers=case.parties[name],
                                     json={"decision": "accept"}).json()

    threads = [threading.Thread(target=accept, args=(n,)) for n in ("Tenant", "Landlord")]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(r["status"] for r in results.values()) == ["agreed", "open"]
    view = case.view("mediator")
    assert view["status"] == "agreed" and view["agreement_package_id"] == pkg
    log = [e["action"] for e in client.get(case.url("/audit"), headers=case.mediator).json()]
    assert log.count("agreement_reached") == 1


def test_audit_log_is_append_only_in_the_database(app, client, case):
    engine = app.state.sessions.kw["bind"]
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    # case created, two seats claimed, two parties' constraints: all still there
    assert len(client.get(case.url("/audit"), headers=case.mediator).json()) == 5


# ---------------------------------------------------------------- the pages' forms (no browser)


def test_party_forms_store_constraints_and_send_counters_through_review(app, client):
    case = Actors(client, claim_seats=False)
    tenant = browser_party(app, case.invitations["Tenant"])
    landlord = claim(client, case.invitations["Landlord"])
    form = {"w0": "3", "ideal0": "1000", "res0": "1450", "w1": "1", "ideal1": "36", "res1": "12",
            "w2": "1", "r2_0": "0.2", "r2_1": "1", "r2_2": "0.6", "min_value": "0.2"}
    assert post_form(tenant, "/p", "/p/constraints", form, follow_redirects=False).status_code == 303
    assert tenant.get("/p").text.count('value="1450"') == 1
    bad = post_form(tenant, "/p", "/p/constraints", {**form, "res0": "lots"})
    assert bad.status_code == 422 and "Rent: reservation: &#39;lots&#39; is not a number" in bad.text
    for garbage in ("nan", "inf", "1e309", "-Infinity"):
        bad = post_form(tenant, "/p", "/p/constraints", {**form, "ideal0": garbage})
        assert bad.status_code == 422 and "ideal" in bad.text and "finite" in bad.text, garbage
    r = post_form(tenant, "/p", "/p/counter", {"t0": "1300", "t1": "18", "t2": "June", "note": "ok?"}, follow_redirects=False)
    assert r.status_code == 303
    [draft] = client.get(case.url("/drafts"), headers=case.mediator).json()
    assert draft["kind"] == "counter" and draft["payload"]["terms"] == {"Rent": 1300, "Term": 18, "Start": "June"}
    assert client.get(case.url(), headers=landlord).json()["packages"] == []
