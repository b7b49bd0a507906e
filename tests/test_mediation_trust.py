"""The mediation service's trust boundary, attacked the way a curious mediator, a hostile client and a careless
user would (docs/design.md, "Mediation: trust model"). Each assertion is one the service could fail."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from mediation_helpers import (CASE, LANDLORD, TENANT, Actors, browser_mediator, browser_party, claim, csrf_of,
                               SlowWriter, mediator_session, post_form)
from parley.mediation.app import create_app
from parley.mediation.limits import RateLimits

TENANT_SECRETS = ["1450", "1000"]  # the tenant's reservation and ideal on Rent; neither is a range bound below
PRIVATE = re.compile(r"\b(1450|1230)\b")  # reservations nobody but their party (and the server) may see


@pytest.fixture
def app(db_url):
    application = create_app(db_url, public_url="https://mediation.example.org")
    yield application
    application.state.sessions.kw["bind"].dispose()


# ---------------------------------------------------------------- the mediator cannot be a party


def test_mediator_holding_every_invitation_cannot_read_constraints_or_act_for_a_claimed_seat(app, client, case):
    # The invitations the mediator saw are void once claimed: through the API and through the page.
    for name, invitation in case.invitations.items():
        assert client.post("/api/claim", json={"invitation": invitation}).status_code == 404
        page = client.get(f"/i/{invitation}")
        assert "not valid" in page.text and 'id="claim"' not in page.text
    m = case.mediator
    tenant_id = case.party_ids["Tenant"]
    # On every route, the mediator's own session reads no constraint and acts for no party.
    assert client.get(case.url("/constraints"), headers=m).status_code == 403
    assert client.put(case.url("/constraints"), headers=m, json=TENANT).status_code == 403
    assert client.post(case.url("/counter"), headers=m, json={"terms": {"Rent": 1300, "Term": 18, "Start": "June"}}).status_code == 403
    assert client.put(case.url("/passcode"), headers=m, json={"passcode": "12345678"}).status_code == 403
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=m, json={})
    pkg = client.get(case.url(), headers=m).json()["packages"][0]["id"]
    assert client.post(case.url(f"/packages/{pkg}/response"), headers=m, json={"decision": "accept"}).status_code == 403
    # Without a passcode set, no passcode opens a seat.
    assert client.post("/api/seat-login", json={"case_id": case.case_id, "party_id": tenant_id, "passcode": ""}).status_code == 401
    # Nothing the mediator can fetch holds a private number.
    for path in ("", "/drafts?status=all", "/audit"):
        body = client.get(case.url(path), headers=m).text
        assert not PRIVATE.search(body), (path, PRIVATE.search(body))
    # The pages, with the mediator's cookie: the case page shows no values; the party page is not theirs.
    browser = browser_mediator(app)
    page = browser.get(f"/cases/{case.case_id}")
    assert page.status_code == 200 and not PRIVATE.search(page.text)
    assert browser.get("/p").status_code == 403
    assert post_form(browser, f"/cases/{case.case_id}", "/p/constraints", {"w0": "1"}).status_code == 403
    # The audit log records only the parties' own acts as theirs.
    actors = {(e["actor"], e["action"]) for e in client.get(case.url("/audit"), headers=m).json()}
    assert {a for a, act in actors if act in ("constraints_entered", "seat_claimed")} == \
        {f"party:{tenant_id}", f"party:{case.party_ids['Landlord']}"}


PARTY_ONLY = {("GET", "/api/cases/{case_id}/constraints"), ("PUT", "/api/cases/{case_id}/constraints"),
              ("POST", "/api/cases/{case_id}/counter"), ("PUT", "/api/cases/{case_id}/passcode"),
              ("POST", "/api/cases/{case_id}/packages/{package_id}/response")}


def test_no_api_route_or_page_lets_the_mediator_or_a_used_invitation_act_as_a_party(app, client, case):
    """Every route of the OpenAPI spec, with the mediator's session and with each invitation it saw used as a
    session: no party-only route answers anything but 401/403, and no answer holds a private number."""
    draft = case.meso("Tenant")
    client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    pkg = client.get(case.url(), headers=case.mediator).json()["packages"][0]["id"]
    routes = [(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops]
    assert PARTY_ONLY <= set(routes)
    bodies = {"/constraints": TENANT, "/counter": {"terms": {"Rent": 1300, "Term": 18, "Start": "June"}},
              "/passcode": {"passcode": "taken over!"}, "/response": {"decision": "accept"}}
    for method, template in routes:
        path = template.format(case_id=case.case_id, package_id=pkg, draft_id=draft["id"],
                               party_id=case.party_ids["Tenant"])
        body = next((b for suffix, b in bodies.items() if template.endswith(suffix)), {})
        for invitation in case.invitations.values():
            r = client.request(method, path, headers={"Authorization": f"Bearer {invitation}"}, json=body)
            assert r.status_code in (401, 404, 422) or not template.startswith("/api/cases"), (method, path, r.status_code)
            assert not PRIVATE.search(r.text)
        if (method, template) in PARTY_ONLY:
            r = client.request(method, path, headers=case.mediator, json=body)
            assert r.status_code == 403, (method, path, r.status_code, r.text)
    # Nothing changed for the parties: no accept, no counter, constraints as they entered them.
    assert client.get(case.url("/constraints"), headers=case.parties["Tenant"]).json() == TENANT
    assert all(p["responses"] == [] for p in client.get(case.url(), headers=case.parties["Tenant"]).json()["packages"])
    assert client.get(case.url("/drafts"), headers=case.mediator).json() == []
    # The pages: an invitation in the session cookie opens nothing.
    for invitation in case.invitations.values():
        browser = TestClient(app, base_url="https://testserver", cookies={"parley_session": invitation})
        assert browser.get("/p").status_code == 401
        assert browser.get(f"/cases/{case.case_id}").status_code == 401


def test_a_mediator_signed_in_in_the_browser_cannot_claim_its_own_cases_seats(app, client):
    case = Actors(client, claim_seats=False)
    browser = browser_mediator(app)
    page = browser.get(f"/i/{case.invitations['Tenant']}")
    r = browser.post("/claim", data={"csrf": csrf_of(page.text), "invitation": case.invitations["Tenant"]})
    assert r.status_code == 403 and "mediator" in r.text
    browser_party(app, case.invitations["Tenant"])  # the invitation is still good for the party


def test_reissue_voids_the_old_invitation_and_sessions_and_clears_the_seat(client, case):
    m, old_session = case.mediator, case.parties["Tenant"]
    tenant_id = case.party_ids["Tenant"]
    r = client.post(case.url(f"/parties/{tenant_id}/invitation"), headers=m)
    assert r.status_code == 201 and r.json()["link"].startswith("https://mediation.example.org/i/")
    new = r.json()["invitation"]
    assert client.get(case.url(), headers=old_session).status_code == 401  # the old session ended
    seat = next(p for p in client.get(case.url(), headers=m).json()["parties"] if p["id"] == tenant_id)
    assert seat == {"id": tenant_id, "name": "Tenant", "seat": "invited", "constraints_entered": False}
    # Whoever claims the new invitation (here: the mediator) finds no constraints to read.
    holder = claim(client, new)
    assert client.get(case.url("/constraints"), headers=holder).status_code == 404
    assert client.post("/api/claim", json={"invitation": new}).status_code == 404
    # A re-issue before anyone claimed voids the unclaimed invitation too.
    other = Actors(client, email="other@example.org", claim_seats=False)
    client.post(other.url(f"/parties/{other.party_ids['Tenant']}/invitation"), headers=other.mediator)
    assert client.post("/api/claim", json={"invitation": other.invitations["Tenant"]}).status_code == 404
    log = [e for e in client.get(case.url("/audit"), headers=m).json() if e["action"] == "invitation_reissued"]
    assert log[0]["detail"] == {"party_id": tenant_id, "sessions_ended": 1, "constraints_cleared": True}


def test_remove_and_replace_a_party_before_agreement(client):
    three = {**CASE, "parties": [{"name": "Tenant"}, {"name": "Landlord"}, {"name": "Agent"}]}
    case = Actors(client, three)
    m = case.mediator
    agent = case.parties["Agent"]
    assert client.delete(case.url(f"/parties/{case.party_ids['Agent']}"), headers=m).status_code == 204
    assert client.get(case.url(), headers=agent).status_code == 401
    view = client.get(case.url(), headers=m).json()
    assert [p["name"] for p in view["parties"]] == ["Tenant", "Landlord"] and view["removed_parties"][0]["name"] == "Agent"
    # Two parties left: removing another would leave no negotiation; replacing is how to change one.
    assert client.delete(case.url(f"/parties/{case.party_ids['Landlord']}"), headers=m).status_code == 409
    r = client.post(case.url(f"/parties/{case.party_ids['Landlord']}/replace"), headers=m, json={"name": "New landlord"})
    assert r.status_code == 201
    newcomer = claim(client, r.json()["invitation"])
    assert client.get(case.url(), headers=case.parties["Landlord"]).status_code == 401
    assert client.get(case.url(), headers=newcomer).json()["you"]["name"] == "New landlord"
    actions = [e["action"] for e in client.get(case.url("/audit"), headers=m).json()]
    assert "party_removed" in actions and "party_replaced" in actions


def test_a_passcode_opens_the_seat_from_another_device_and_guessing_is_rate_limited(db_url):
    app = create_app(db_url)
    with TestClient(app) as client:
        case = Actors(client)
        tid = case.party_ids["Tenant"]
        assert client.put(case.url("/passcode"), headers=case.parties["Tenant"], json={"passcode": "short"}).status_code == 422
        assert client.put(case.url("/passcode"), headers=case.parties["Tenant"], json={"passcode": "blue tulip 42"}).status_code == 204
        app.state.limits = RateLimits({"passcode": "3/minute"})  # counted from here
        with TestClient(app) as phone:
            r = phone.post("/api/seat-login", json={"case_id": case.case_id, "party_id": tid, "passcode": "blue tulip 42"})
            assert r.status_code == 200
            assert phone.get(case.url(), headers={"Authorization": f"Bearer {r.json()['token']}"}).status_code == 200
            wrong = {"case_id": case.case_id, "party_id": tid, "passcode": "guess"}
            codes = [phone.post("/api/seat-login", json=wrong).status_code for _ in range(3)]
            assert codes == [401, 401, 429]  # the right passcode above was the first of the three allowed
            limited = phone.post("/api/seat-login", json={**wrong, "passcode": "blue tulip 42"})
            assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    app.state.sessions.kw["bind"].dispose()


@pytest.mark.parametrize("rule, attempt", [
    ("login", lambda c: c.post("/api/login", json={"email": "mediator@example.org", "password": "wrong password"})),
    ("claim", lambda c: c.post("/api/claim", json={"invitation": "guessed"})),
    ("signup", lambda c: c.post("/api/mediators", json={"email": f"x{time.perf_counter_ns()}@example.org",
                                                           "password": "correct horse battery"})),
    ("create_case", lambda c: c.post("/api/cases", json=CASE, headers=c.mediator)),
    ("meso", lambda c: c.post(f"/api/cases/{c.case.case_id}/meso", json={"party_id": c.case.party_ids["Tenant"]},
                              headers=c.mediator)),
])
def test_rate_limits_answer_429_with_retry_after(tmp_path, rule, attempt):
    app = create_app(f"sqlite:///{tmp_path / 'rl.db'}")
    with TestClient(app) as client:
        client.case = Actors(client)
        client.case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
        client.mediator = client.case.mediator
        app.state.limits = RateLimits({rule: "2/minute"})  # counted from here
        codes = [attempt(client).status_code for _ in range(3)]
        assert 429 not in codes[:2] and codes[2] == 429, codes
        r = attempt(client)
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60 and rule in r.json()["detail"]


def test_login_is_refused_the_same_way_for_a_wrong_email_and_a_wrong_password(client, case):
    a = client.post("/api/login", json={"email": "nobody@example.org", "password": "whatever it is"})
    b = client.post("/api/login", json={"email": "mediator@example.org", "password": "whatever it is"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_logout_ends_the_session(client, case):
    assert client.post("/api/logout", headers=case.mediator).status_code == 204
    assert client.get(case.url(), headers=case.mediator).status_code == 401


# ---------------------------------------------------------------- the browser boundary


def test_forms_without_the_pages_csrf_token_are_refused(app, client):
    case = Actors(client, claim_seats=False)
    tenant = browser_party(app, case.invitations["Tenant"])
    form = {"w0": "1", "ideal0": "1000", "res0": "1400", "w1": "1", "ideal1": "36", "res1": "12",
            "w2": "1", "r2_0": "0.2", "r2_1": "1", "r2_2": "0.6", "min_value": "0"}
    assert tenant.post("/p/constraints", data=form).status_code == 403
    # A token from another browser (an attacker's own page) does not fit this browser's session.
    attacker = browser_party(app, case.invitations["Landlord"])
    stolen = csrf_of(attacker.get("/p").text)
    assert tenant.post("/p/constraints", data={**form, "csrf": stolen}).status_code == 403
    assert post_form(tenant, "/p", "/p/constraints", form, follow_redirects=False).status_code == 303


def test_session_cookies_are_httponly_samesite_and_secure_over_https(app, client):
    case = Actors(client, claim_seats=False)
    browser = TestClient(app, base_url="https://mediation.example.org")
    page = browser.get(f"/i/{case.invitations['Tenant']}")
    r = browser.post("/claim", data={"csrf": csrf_of(page.text), "invitation": case.invitations["Tenant"]},
                     follow_redirects=False)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("parley_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    assert r.headers["location"] == "/p"  # the address holds no secret after the claim


def test_every_response_carries_the_security_headers(app, client, case):
    browser = browser_mediator(app)
    responses = [client.get("/"), client.get("/login"), client.get("/api/cases"), client.get("/nope"),
                 client.get(case.url(), headers=case.mediator), browser.get(f"/cases/{case.case_id}"),
                 client.post("/api/cases", content=b"{", headers={"content-type": "application/json"})]
    for r in responses:
        h = r.headers
        assert "script-src" not in h["content-security-policy"] and "unsafe-inline" not in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "no-referrer"
        assert h["cache-control"] == "no-store", r.request.url
    assert client.get("/docs").status_code == 404  # the interactive docs (CDN assets) are off unless --docs


def test_links_come_from_the_public_url_never_from_the_host_header(client):
    mediator = mediator_session(client)
    r = client.post("/api/cases", json=CASE, headers={**mediator, "Host": "evil.example.com"})
    assert all(p["link"].startswith("https://mediation.example.org/i/") for p in r.json()["parties"])


# ---------------------------------------------------------------- bad input on both databases


BAD_VALUES = [("NaN", "finite"), ("Infinity", "finite"), ("-Infinity", "finite"), ("1e309", "finite"),
              ('"a\\u0000b"', "NUL"), ('"a\\ud800b"', "unicode")]


def _with(template: dict, path: list, raw: str) -> bytes:
    """The JSON text of ``template`` with the value at ``path`` replaced by the raw JSON ``raw``."""
    marker = "__BAD__"
    doc = json.loads(json.dumps(template))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = marker
    return json.dumps(doc).replace(f'"{marker}"', raw).encode()


@pytest.mark.parametrize("raw, needle", BAD_VALUES)
def test_nan_infinity_surrogates_and_nul_get_422_naming_the_field(client, case, raw, needle):
    numeric = raw[0] != '"'
    targets = [  # (method, url, headers, body, path to the bad value, field named in the error)
        ("PUT", case.url("/constraints"), case.parties["Tenant"], TENANT, ["issues", "Rent", "ideal"], "ideal"),
        ("PUT", case.url("/constraints"), case.parties["Tenant"], TENANT, ["min_value"], "min_value"),
        ("POST", case.url("/counter"), case.parties["Tenant"], {"terms": {"Rent": 1300, "Term": 18, "Start": "June"}},
         ["terms", "Rent"], "Rent"),
        ("POST", "/api/cases", case.mediator, CASE, ["issues", 0, "max"], "max"),
        ("POST", case.url("/meso"), case.mediator, {"party_id": case.party_ids["Tenant"], "tolerance": 0.05},
         ["tolerance"], "tolerance"),
    ] if numeric else [
        ("POST", "/api/cases", case.mediator, CASE, ["title"], "title"),
        ("POST", "/api/cases", case.mediator, CASE, ["parties", 0, "name"], "name"),
        ("POST", "/api/cases", case.mediator, CASE, ["issues", 2, "options", 0], "options"),
        ("POST", case.url("/messages"), case.mediator, {"text": "hello"}, ["text"], "text"),
        ("POST", case.url("/counter"), case.parties["Tenant"], {"terms": {"Rent": 1300, "Term": 18, "Start": "June"},
                                                                "note": "x"}, ["note"], "note"),
        ("POST", case.url("/counter"), case.parties["Tenant"], {"terms": {"Rent": 1300, "Term": 18, "Start": "June"}},
         ["terms", "Start"], "Start"),
        ("POST", "/api/login", {}, {"email": "a@b.org", "password": "x"}, ["password"], "password"),
    ]
    before = client.get(case.url("/audit"), headers=case.mediator).json()
    for method, url, headers, body, path, field in targets:
        r = client.request(method, url, headers={**headers, "content-type": "application/json"},
                           content=_with(body, path, raw))
        assert r.status_code == 422, (url, path, r.status_code, r.text)
        detail = r.json()["detail"].lower()
        assert field.lower() in detail and needle.lower() in detail, (url, path, r.text)
    assert client.get(case.url("/audit"), headers=case.mediator).json() == before  # nothing was stored


# Percent-encoded as a browser (or a hostile client) would send them; %ED%A0%80 is a surrogate's UTF-8 form.
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309", "a%00b", "a%ED%A0%80b", "%FF%FE"])
def test_bad_values_in_page_forms_get_a_clear_error_page(app, client, value):
    case = Actors(client, claim_seats=False)
    tenant = browser_party(app, case.invitations["Tenant"])
    good = "w0=1&res0=1400&w1=1&ideal1=36&res1=12&w2=1&r2_0=0.2&r2_1=1&r2_2=0.6&min_value=0&t1=18&t2=June"
    text = value[0] in "a%"

    def send(action, body):
        csrf = csrf_of(tenant.get("/p").text)
        return tenant.post(action, content=f"csrf={csrf}&{good}&{body}".encode(),
                           headers={"content-type": "application/x-www-form-urlencoded"})

    r = send("/p/constraints", f"ideal0={'1000' if text else value}&note=x&t0=1300")
    assert text or (r.status_code == 422 and "ideal" in r.text), r.text
    r = send("/p/counter", f"ideal0=1000&t0={'1300' if text else value}&note={value if text else 'x'}")
    if "%ED" in value or "%FF" in value:
        # Bytes that are not UTF-8 at all are read as U+FFFD by the form parser: valid text, stored as such.
        assert r.status_code == 200, r.text  # followed the redirect back to the party page
        [draft] = client.get(case.url("/drafts"), headers=case.mediator).json()
        assert "\ufffd" in draft["payload"]["note"]
    else:
        assert r.status_code == 422 and 'id="error"' in r.text, r.text


# ---------------------------------------------------------------- drafts: stale ones, slow or failing writers


def test_a_draft_computed_before_a_constraints_change_cannot_be_approved(client, case):
    draft = case.meso("Tenant")
    changed = json.loads(json.dumps(LANDLORD))
    changed["issues"]["Rent"]["reservation"] = 1300
    case.enter_constraints(Landlord=changed)
    r = client.post(case.url(f"/drafts/{draft['id']}/approve"), headers=case.mediator, json={})
    assert r.status_code == 409 and "draft a new MESO" in r.json()["detail"]
    assert client.get(case.url(), headers=case.parties["Tenant"]).json()["packages"] == []
    assert client.post(case.url(f"/drafts/{draft['id']}/reject"), headers=case.mediator, json={}).status_code == 200
    assert case.meso("Tenant")["status"] == "pending"


class BrokenWriter:
    name = "broken"

    def write(self, requests, seed=0):
        raise ConnectionError("model server refused the connection")


def test_a_slow_writer_never_blocks_other_cases(db_url):
    app = create_app(db_url, writer=SlowWriter(3.0))
    with TestClient(app) as client:
        slow, other = Actors(client), Actors(client, email="other@example.org")
        slow.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
        done = {}
        drafting = threading.Thread(target=lambda: done.update(r=client.post(
            slow.url("/meso"), headers=slow.mediator, json={"party_id": slow.party_ids["Tenant"]})))
        drafting.start()
        time.sleep(0.5)  # the writer is running now
        # Served while the writer still runs, counted rather than timed: a blocked server answers nothing until the
        # writer is done (0 or 1 here), while a per-request time limit trips whenever the CI machine is busy.
        served_during_write, latencies = 0, []
        while drafting.is_alive() and len(latencies) < 40:
            t0 = time.perf_counter()
            r = client.post(other.url("/messages"), headers=other.mediator, json={"text": "still here"})
            latencies.append(time.perf_counter() - t0)
            assert r.status_code == 204
            served_during_write += drafting.is_alive()
        drafting.join()
        assert done["r"].status_code == 201
        assert served_during_write >= 3, latencies
    app.state.sessions.kw["bind"].dispose()


@pytest.mark.parametrize("writer, timeout, status", [(SlowWriter(5.0), 1.0, 504), (BrokenWriter(), 60.0, 502)])
def test_a_writer_that_fails_or_times_out_stores_nothing_and_is_audited(tmp_path, writer, timeout, status):
    app = create_app(f"sqlite:///{tmp_path / 'w.db'}", writer=writer, writer_timeout=timeout)
    with TestClient(app) as client:
        case = Actors(client)
        case.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
        r = client.post(case.url("/meso"), headers=case.mediator, json={"party_id": case.party_ids["Tenant"]})
        assert r.status_code == status and "nothing was stored" in r.json()["detail"] and "--writer template" in r.json()["detail"]
        assert client.get(case.url("/drafts?status=all"), headers=case.mediator).json() == []
        failed = [e for e in client.get(case.url("/audit"), headers=case.mediator).json() if e["action"] == "meso_draft_failed"]
        assert len(failed) == 1 and failed[0]["detail"]["party"] == "Tenant"
