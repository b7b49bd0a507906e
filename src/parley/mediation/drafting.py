"""Drafting a MESO without holding the database: read, compute, write the rationales, store, each apart.

The solver can take seconds and an LLM writer much longer (or never answer). Holding a write
transaction meanwhile would stall every other case on SQLite (one writer at a time), so:
1. one short read transaction gathers what the MESO needs (service.plan_meso);
2. the solver runs with no transaction open (service.compute_meso);
3. the writer runs in a worker thread with a deadline; a writer that fails or misses it gives the
   mediator a 502/504 saying what to do, stores no draft, and is audited as a failed attempt;
4. one short write transaction stores the draft, after checking that no party changed its
   constraints meanwhile (service.store_meso).
"""

from __future__ import annotations

import concurrent.futures

from parley.mediation import mail, service
from parley.mediation.schemas import MesoRequest
from parley.mediation.service import ServiceError

# Writers run here, not in the request thread, so a hung writer costs a worker, not the deadline.
_WRITERS = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="parley-writer")


def draft_meso(state, token: str | None, case_id: int, body: MesoRequest) -> dict:
    """``state`` is the app's state: readers, sessions, writer and writer_timeout."""
    with mail.transaction(state, read=True) as s:
        who = service.authenticate(s, token)
        plan = service.plan_meso(s, who, case_id, body)
    service.compute_meso(plan)
    writer = state.writer
    future = _WRITERS.submit(writer.write, plan.requests, plan.seed)
    try:
        texts = future.result(timeout=state.writer_timeout)
        if not isinstance(texts, list) or len(texts) != len(plan.requests) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"it returned {type(texts).__name__} instead of {len(plan.requests)} texts")
    except concurrent.futures.TimeoutError:
        _failed(state, who, plan, writer.name, f"no answer within {state.writer_timeout:g} s")
        raise ServiceError(504, f"the rationale writer ({writer.name}) did not answer within {state.writer_timeout:g} s; "
                                "nothing was stored. Try again, or restart the server with --writer template") from None
    except Exception as exc:  # whatever a model server or a model does wrong, the mediator gets one clear line
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        _failed(state, who, plan, writer.name, reason)
        raise ServiceError(502, f"the rationale writer ({writer.name}) failed ({reason}); nothing was stored. "
                                "Try again, or restart the server with --writer template") from None
    with mail.transaction(state) as s:
        return service.store_meso(s, who, plan, texts, writer.name)


def _failed(state, who, plan, writer_name: str, reason: str) -> None:
    with mail.transaction(state) as s:
        service.record_failed_draft(s, who, plan.case_id, plan.target_name, writer_name, reason)
