"""The real server process: `parley serve` killed mid-request keeps every committed write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from mediation_helpers import CASE, TENANT, free_port, start_server


def test_server_killed_mid_requests_loses_no_committed_data(tmp_path):
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db, port)
    committed: list[int] = []
    try:
        created = httpx.post(f"{base}/api/cases", json=CASE).json()
        headers = {"Authorization": f"Bearer {created['mediator_token']}"}
        tenant = {"Authorization": f"Bearer {created['parties'][0]['token']}"}
        httpx.put(f"{base}/api/cases/{created['case_id']}/constraints", json=TENANT, headers=tenant)
        stop = threading.Event()

        def write_messages():
            n = 0
            while not stop.is_set():
                try:
                    r = httpx.post(f"{base}/api/cases/{created['case_id']}/messages", json={"text": f"m{n}"},
                                   headers=headers, timeout=5)
                    if r.status_code == 204:
                        committed.append(n)  # the server answered: the write was committed
                except httpx.HTTPError:
                    return
                n += 1

        writer = threading.Thread(target=write_messages)
        writer.start()
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no flush: requests in flight die with it
        proc.wait()
        stop.set()
        writer.join()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(committed) > 5
    proc = start_server(db, port)
    try:
        view = httpx.get(f"{base}/api/cases/{created['case_id']}", headers=headers).json()
        texts = {m["text"] for m in view["messages"]}
        assert {f"m{n}" for n in committed} <= texts  # every acknowledged write survived
        assert view["parties"][0]["constraints_entered"] is True
        assert httpx.get(f"{base}/api/cases/{created['case_id']}/constraints", headers=tenant).json() == TENANT
    finally:
        proc.kill()
        proc.wait()


def test_serve_refuses_a_bad_database_url_with_one_line():
    r = subprocess.run([sys.executable, "-m", "parley.cli.main", "serve", "--database-url", "mysql://nope"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unsupported database URL" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("writer", ["scripted:linear", "nonsense"])
def test_serve_refuses_an_unknown_writer(writer):
    r = subprocess.run([sys.executable, "-m", "parley.cli.main", "serve", "--writer", writer, "--database-url",
                        "sqlite:///:memory:"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
