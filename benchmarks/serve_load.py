"""Load on loopback: requests/s and latency of `parley serve` for reading a case and submitting a response.

    python benchmarks/serve_load.py [--seconds 10] [--concurrency 16] [--database-url sqlite:///...]

Starts the real server (uvicorn, one process) on a fresh database, prepares cases with many approved
packages, then runs two phases with `concurrency` clients each: GET /api/cases/{id} with a party
token, and POST .../packages/{id}/response (a reject, so the case stays open and every request
writes a row, its audit event and the agreement check).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from mediation_helpers import CASE, LANDLORD, TENANT, claim, free_port, mediator_session, start_server  # noqa: E402

# The benchmark drafts far more MESOs per minute than a person would: lift those limits for it.
NO_LIMITS = ("--rate-limit", "meso=100000/minute", "--rate-limit", "create_case=100000/hour",
             "--rate-limit", "claim=100000/minute")


def prepare(base: str, cases: int, mesos: int) -> list[dict]:
    prepared = []
    with httpx.Client(base_url=base, timeout=30) as c:
        med = mediator_session(c)
        for _ in range(cases):
            created = c.post("/api/cases", json=CASE, headers=med).json()
            cid = created["case_id"]
            parties = [claim(c, p["invitation"]) for p in created["parties"]]
            for headers, constraints in zip(parties, (TENANT, LANDLORD)):
                c.put(f"/api/cases/{cid}/constraints", json=constraints, headers=headers).raise_for_status()
            for k in range(mesos):
                party_id = created["parties"][k % 2]["party_id"]
                draft = c.post(f"/api/cases/{cid}/meso", json={"party_id": party_id, "tolerance": 0.1}, headers=med).json()
                c.post(f"/api/cases/{cid}/drafts/{draft['id']}/approve", json={}, headers=med).raise_for_status()
            packages = [p["id"] for p in c.get(f"/api/cases/{cid}", headers=med).json()["packages"]]
            prepared.append({"id": cid, "parties": parties, "packages": packages})
    return prepared


async def phase(base: str, concurrency: int, seconds: float, jobs) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(client):
        nonlocal errors
        while time.perf_counter() < deadline:
            job = next(jobs, None)
            if job is None:
                return
            method, url, headers, body = job
            start = time.perf_counter()
            r = await client.request(method, url, headers=headers, json=body)
            latencies.append(time.perf_counter() - start)
            errors += r.status_code >= 400

    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - start


def report(name: str, latencies: list[float], errors: int, elapsed: float) -> str:
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return (f"| {name} | {len(ordered)} | {errors} | {len(ordered) / elapsed:.0f} | {statistics.median(ordered) * 1000:.1f} "
            f"| {p(0.99):.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--cases", type=int, default=4)
    ap.add_argument("--mesos", type=int, default=40, help="approved MESOs per case (3 packages each)")
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'load.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, port, extra=NO_LIMITS)
    try:
        cases = prepare(base, args.cases, args.mesos)

        def reads():
            while True:
                for case in cases:
                    for headers in case["parties"]:
                        yield "GET", f"/api/cases/{case['id']}", headers, None

        def responses():
            for case in cases:
                for pkg in case["packages"]:
                    for headers in case["parties"]:
                        yield "POST", f"/api/cases/{case['id']}/packages/{pkg}/response", headers, {"decision": "reject"}

        rows = [report("read a case (GET /api/cases/{id})", *asyncio.run(phase(base, args.concurrency, args.seconds, reads()))),
                report("submit a response (POST .../response)", *asyncio.run(phase(base, args.concurrency, args.seconds, responses())))]
    finally:
        server.kill()
        server.wait()
    print(f"parley serve, 1 uvicorn process, {url.split(':')[0]}, {args.concurrency} concurrent clients, loopback")
    print("| request | requests | errors | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
