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

from mediation_helpers import CASE, TENANT, claim, free_port, mediator_session, start_server


def test_server_killed_mid_requests_loses_no_committed_data(tmp_path):
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db, port)
    committed: list[int] = []
    try:
        with httpx.Client(base_url=base) as client:
            headers = mediator_session(client)
            created = client.post("/api/cases", json=CASE, headers=headers).json()
            tenant = claim(client, created["parties"][0]["invitation"])
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
def test_serve_refuses_an_unknown_writer(writer, tmp_path):
    r = subprocess.run([sys.executable, "-m", "parley.cli.main", "serve", "--writer", writer, "--database-url",
                        f"sqlite:///{tmp_path / 'w.db'}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def _serve(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parley.cli.main", "serve", "--database-url", url, "--port",
                           str(free_port()), *extra], capture_output=True, text=True, timeout=60)


def _one_line_exit_2(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) <= 3, r.stderr  # one message, wrapped at most


def test_serve_refuses_unusable_databases_at_start(tmp_path):
    # In memory: every case would vanish with the process.
    _one_line_exit_2(_serve("sqlite:///:memory:"), "in-memory")
    _one_line_exit_2(_serve("sqlite://"), "in-memory")
    # Corrupt: a file that is not a database.
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    _one_line_exit_2(_serve(f"sqlite:///{corrupt}"), "could not open the database")
    # Read-only: a migrated database whose file (and folder) the server may not write.
    folder = tmp_path / "ro"
    folder.mkdir()
    from parley.mediation.db import open_database
    open_database(f"sqlite:///{folder / 'ro.db'}").kw["bind"].dispose()
    for leftover in folder.glob("ro.db-*"):
        leftover.unlink()
    # Opened read-only by the URL (works as root too): migrated, so only the write probe can notice.
    _one_line_exit_2(_serve(f"sqlite:///file:{folder / 'ro.db'}?mode=ro&uri=true"), "could not open the database")


def test_serve_refuses_a_database_file_it_may_not_write(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    from parley.mediation.db import open_database
    open_database(f"sqlite:///{folder / 'ro.db'}").kw["bind"].dispose()
    for leftover in folder.glob("ro.db-*"):
        leftover.unlink()
    os.chmod(folder / "ro.db", 0o444)
    os.chmod(folder, 0o555)
    try:
        if os.access(folder / "ro.db", os.W_OK):
            pytest.skip("running as root: file permissions do not stop writes")
        _one_line_exit_2(_serve(f"sqlite:///{folder / 'ro.db'}"), "could not open the database")
    finally:
        os.chmod(folder, 0o755)
        os.chmod(folder / "ro.db", 0o644)


def test_database_passwords_are_never_printed():
    r = _serve("postgresql://parley:hunter2secret@127.0.0.1:1/parley")
    assert r.returncode == 2 and "hunter2secret" not in r.stderr + r.stdout and "***" in r.stderr, r.stderr


def test_serve_refuses_a_malformed_public_url(tmp_path):
    _one_line_exit_2(_serve(f"sqlite:///{tmp_path / 'p.db'}", "--public-url", "mediation.example.org"), "public URL")
