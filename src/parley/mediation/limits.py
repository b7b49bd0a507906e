"""Rate limits on what an attacker would repeat: log-in, invitation claims, passcodes, sign-up, case creation
and MESO drafting. 429 with Retry-After when a limit is hit.

Built on the ``limits`` library (the engine behind slowapi) directly rather than slowapi's decorators:
slowapi keeps one module-level limiter per decorator, while each app here (and each test) needs its own
counters and its own rules.
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from parley import ParleyError
from parley.mediation.service import ServiceError

# Per client address; log-in and passcodes also per account / seat, so that many addresses cannot share
# one guessing budget.
DEFAULT_LIMITS = {
    "login": "10/minute;50/hour",
    "passcode": "10/minute;50/hour",
    "claim": "20/minute",
    "signup": "5/minute;20/hour",
    "create_case": "30/hour",
    "meso": "30/minute",
}


class RateLimits:
    def __init__(self, rules: dict[str, str] | None = None) -> None:
        merged = {**DEFAULT_LIMITS, **(rules or {})}
        unknown = set(merged) - set(DEFAULT_LIMITS)
        if unknown:
            raise ParleyError(f"unknown rate limit(s) {sorted(unknown)}: known are {sorted(DEFAULT_LIMITS)}")
        try:
            self.rules = {name: [parse(part) for part in spec.split(";") if part.strip()]
                          for name, spec in merged.items()}
        except ValueError as exc:
            raise ParleyError(f"rate limit: {exc} (write e.g. '10/minute;50/hour')") from None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, rule: str, request: Request, *keys: str) -> None:
        """Count one attempt for the client (and each extra key); 429 once any of them is over its limit."""
        client = request.client.host if request.client else "unknown"
        for key in (f"ip:{client}", *keys):
            for item in self.rules[rule]:
                if not self.limiter.hit(item, rule, key):
                    reset = self.limiter.get_window_stats(item, rule, key).reset_time
                    wait = max(1, math.ceil(reset - time.time()))
                    raise ServiceError(429, f"too many attempts ({rule}): wait {wait} s and try again",
                                       headers={"Retry-After": str(wait)})
