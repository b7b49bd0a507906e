"""A slow rationale writer must not block other cases: write latency in case B while case A's MESO waits on a writer.

    python benchmarks/writer_isolation.py [--writer-seconds 45] [--clients 4] [--database-url URL]

Serves the real app (uvicorn, one process, on loopback) with a writer that sleeps ``--writer-seconds``
before answering, like a slow or stuck LLM server. Case A's mediator asks for a MESO; while that
request waits, ``--clients`` clients keep writing to case B (a mediator message, then a party's
constraints, alternately) and every write's latency is recorded. The same is measured with no
draft in flight as the baseline. Figures are printed as a Markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from mediation_helpers import CASE, LANDLORD, TENANT, SlowWriter, claim, free_port, mediator_session  # noqa: E402

from parley.mediation.app import create_app  # noqa: E402


def serve(app, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def write_load(base: str, case: dict, clients: int, until) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def client(k: int):
        with httpx.Client(base_url=base, timeout=120) as c:
            n = 0
            while not until():
                t0 = time.perf_counter()
                if n % 2:
                    r = c.put(f"/api/cases/{case['id']}/constraints", json=TENANT, headers=case["tenant"])
                else:
                    r = c.post(f"/api/cases/{case['id']}/messages", json={"text": f"c{k} m{n}"}, headers=case["mediator"])
                elapsed = time.perf_counter() - t0
                assert r.status_code == 204, r.text
                with lock:
                    latencies.append(elapsed)
                n += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return latencies


def row(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    q = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000  # noqa: E731
    return (f"| {name} | {len(ordered)} | {statistics.median(ordered) * 1000:.1f} | {q(0.99):.1f} | "
            f"{ordered[-1] * 1000:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writer-seconds", type=float, default=45)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--baseline-seconds", type=float, default=10)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'isolation.db'}"
    app = create_app(url, writer=SlowWriter(args.writer_seconds), writer_timeout=args.writer_seconds + 30)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(app, port)
    try:
        with httpx.Client(base_url=base, timeout=120) as c:
            cases = {}
            for name, email in (("A", "a@example.org"), ("B", "b@example.org")):
                med = mediator_session(c, email)
                created = c.post("/api/cases", json=CASE, headers=med).json()
                tenant, landlord = (claim(c, p["invitation"]) for p in created["parties"])
                c.put(f"/api/cases/{created['case_id']}/constraints", json=TENANT, headers=tenant).raise_for_status()
                c.put(f"/api/cases/{created['case_id']}/constraints", json=LANDLORD, headers=landlord).raise_for_status()
                cases[name] = {"id": created["case_id"], "mediator": med, "tenant": tenant,
                               "target": created["parties"][0]["party_id"]}

        stop_at = time.perf_counter() + args.baseline_seconds
        baseline = write_load(base, cases["B"], args.clients, lambda: time.perf_counter() > stop_at)

        result = {}

        def draft():
            t0 = time.perf_counter()
            with httpx.Client(base_url=base, timeout=args.writer_seconds + 60) as c:
                r = c.post(f"/api/cases/{cases['A']['id']}/meso", json={"party_id": cases["A"]["target"]},
                           headers=cases["A"]["mediator"])
            result.update(status=r.status_code, seconds=time.perf_counter() - t0)

        drafting = threading.Thread(target=draft)
        drafting.start()
        time.sleep(0.5)
        during = write_load(base, cases["B"], args.clients, lambda: not drafting.is_alive())
        drafting.join()
    finally:
        server.should_exit = True
    print(f"writer sleeps {args.writer_seconds:g} s; {args.clients} clients writing to another case; "
          f"{url.split(':')[0]}; 1 uvicorn process on loopback")
    print(f"case A's MESO: HTTP {result['status']} after {result['seconds']:.1f} s")
    print("| writes to case B | writes | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(row("no draft in flight", baseline))
    print(row(f"while case A waits {args.writer_seconds:g} s for its writer", during))


if __name__ == "__main__":
    main()
