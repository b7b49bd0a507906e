"""The Collective Agency judge: scores an agreed resolution 0-10 with a versioned rubric (RLAIF).

The judge sees only the dilemma, the personas and the agreed text (never the dialogue, so a
trainee's self-praise cannot reach it). Any agent backend can judge: a local HF model or an
OpenAI-compatible server. Verdicts are JSON, parsed leniently (code fences, prose around the
object, a bare "score: 7"); an unparseable answer is retried, and after the last retry the verdict
is a recorded failure with ``score=None``, never a silent zero. Verdicts are cached by
(rubric version, hash of what the judge saw), and calls, cache hits and tokens are counted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence

from parley import ParleyError
from parley.agents import rule_judge
from parley.models import prompts
from parley.models.generation import GenerationSettings
from parley.environments.dilemmas import Dilemma

RUBRIC = "judge_collective_agency"
RULE_JUDGE = "scripted:rules"


@dataclass(frozen=True)
class JudgeRequest:
    dilemma: Dilemma
    agreement: str

    def key(self, rubric_id: str) -> str:
        seen = {"situation": self.dilemma.situation, "stakeholders": self.dilemma.stakeholders,
                "personas": [p.model_dump(mode="json") for p in self.dilemma.personas], "agreement": self.agreement}
        digest = hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()
        return f"{rubric_id}:{digest}"


@dataclass
class Verdict:
    score: float | None  # 0-10; None = the judge failed (recorded in ``failure``)
    red_line_violations: list[str] = field(default_factory=list)
    resolves_conflict: bool | None = None
    rationale: str = ""
    raw: str = ""
    attempts: int = 1
    failure: str | None = None
    cached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class VerdictError(ValueError):
    pass


def parse_verdict(text: str, persona_names: Sequence[str] = ()) -> Verdict:
    """A Verdict from a judge's answer, or VerdictError saying what is wrong with it."""
    text = text if isinstance(text, str) else ""
    data = None
    for match in re.finditer(r"\{.*?\}(?=[^{}]*$)|\{.*\}", text, re.DOTALL):
        try:
            data = json.loads(match.group(0))
            break
        except json.JSONDecodeError:
            continue
    if not isinstance(data, dict):
        m = re.search(r"\bscore\b\W{0,3}(\d+(?:\.\d+)?)\s*(?:/\s*10)?", text, re.IGNORECASE)
        if not m:
            raise VerdictError("no JSON object and no 'score: N' in the answer")
        data = {"score": float(m.group(1))}
    score = data.get("score")
    if isinstance(score, str):
        try:
            score = float(score.strip().split("/")[0])
        except ValueError:
            raise VerdictError(f"score {score!r} is not a number") from None
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise VerdictError(f"score is missing or not a number: {score!r}")
    if not 0 <= score <= 10:
        raise VerdictError(f"score {score} is outside 0-10")
    violations = data.get("red_line_violations") or []
    if not isinstance(violations, list):
        violations = [violations]
    violations = [str(v) for v in violations if str(v).strip()]
    if persona_names:
        known = {n.lower(): n for n in persona_names}
        violations = [known[v.lower()] for v in violations if v.lower() in known]
    resolves = data.get("resolves_conflict")
    return Verdict(score=float(score), red_line_violations=violations,
                   resolves_conflict=resolves if isinstance(resolves, bool) else None,
                   rationale=str(data.get("rationale") or "")[:1000], raw=text)


class JudgeBackend(Protocol):
    def generate(self, conversations, settings: GenerationSettings, seed: int, keys=None) -> list: ...


@dataclass
class JudgeStats:
    requests: int = 0
    cache_hits: int = 0
    calls: int = 0  # generate() calls, retries included
    judged: int = 0  # prompts sent to the model, retries included
    failures: int = 0
    new_tokens: int = 0


class LLMJudge:
    """Batched, cached judge over any generation backend."""

    def __init__(self, backend: JudgeBackend, name: str, rubric_version: int | None = None,
                 settings: GenerationSettings | None = None, retries: int = 2) -> None:
        self.backend, self.name, self.retries = backend, name, retries
        self.rubric_id, self._template = prompts.load(RUBRIC, rubric_version)
        self.floors_violations = int(self.rubric_id.rsplit(".v", 1)[1]) >= 2
        self.settings = settings or GenerationSettings(max_new_tokens=160, do_sample=False)
        self.cache: dict[str, Verdict] = {}
        self.stats = JudgeStats()

    def render(self, request: JudgeRequest) -> list[dict]:
        d = request.dilemma
        text = self._template.render(situation=d.situation, stakeholders=d.stakeholders,
                                     personas=list(d.personas), agreement=request.agreement)
        return [{"role": "user", "content": text}]

    def judge(self, requests: Sequence[JudgeRequest], seed: int = 0) -> list[Verdict]:
        self.stats.requests += len(requests)
        keys = [r.key(self.rubric_id) for r in requests]
        todo = {}
        for key, request in zip(keys, requests):
            if key in self.cache:
                self.stats.cache_hits += 1
            else:
                todo.setdefault(key, request)
        pending = dict(todo)
        attempts: dict[str, int] = {k: 0 for k in todo}
        errors: dict[str, str] = {}
        raws: dict[str, str] = {}
        for attempt in range(self.retries + 1):
            if not pending:
                break
            items = list(pending.items())
            before = self.backend.stats.new_tokens if hasattr(self.backend, "stats") else 0
            outs = self.backend.generate([self.render(r) for _, r in items], self.settings, seed + attempt)
            self.stats.calls += 1
            self.stats.judged += len(items)
            if hasattr(self.backend, "stats"):
                self.stats.new_tokens += self.backend.stats.new_tokens - before
            for (key, request), out in zip(items, outs):
                attempts[key] += 1
                raws[key] = out.text
                try:
                    verdict = parse_verdict(out.text, [p.name for p in request.dilemma.personas])
                except VerdictError as exc:
                    errors[key] = str(exc)
                    continue
                verdict.attempts = attempts[key]
                if self.floors_violations and verdict.red_line_violations and verdict.score:
                    # Rubric v2's promise, kept in code: a judge that names a crossed red line and still
                    # scores it cannot make crossing it pay more than not agreeing.
                    verdict.rationale = f"[scored {verdict.score:g}; rubric v2 scores a red-line crossing 0] {verdict.rationale}"
                    verdict.score = rule_judge.NO_AGREEMENT
                self.cache[key] = verdict
                del pending[key]
        # Failures are not cached: a later call (another seed, a fixed server) may succeed.
        self.stats.failures += len(pending)
        results = []
        for key in keys:
            if key in self.cache:
                v = self.cache[key]
                results.append(Verdict(**{**asdict(v), "cached": key not in todo}))
            else:
                results.append(Verdict(None, raw=raws.get(key, ""), attempts=attempts.get(key, 0),
                                       failure=f"unparseable after {attempts.get(key, 0)} attempts: {errors.get(key)}"))
        return results


class RuleJudge:
    """A model-free judge implementing the rubric's rules literally (for tests and cheap CPU runs).

    ``version`` picks the rubric (``parley.agents.rule_judge``): 2, the default, scores every class of bad
    agreement no higher than no agreement; 1 reproduces runs made before it. It sees the same inputs as
    the LLM judge.
    """

    def __init__(self, version: int | None = None) -> None:
        version = version or rule_judge.LATEST
        if version not in rule_judge.VERSIONS:
            raise ParleyError(f"the rule judge has no rubric v{version}; it has v" + ", v".join(map(str, rule_judge.VERSIONS)))
        self.version = version
        self._verdict = rule_judge.VERSIONS[version]
        # v1 keeps its original id (its cached verdicts and recorded runs still match).
        self.rubric_id = "judge_collective_agency.rules" + ("" if version == 1 else f".v{version}")
        self.name = RULE_JUDGE + ("" if version == rule_judge.LATEST else f"#v{version}")
        self.stats = JudgeStats()

    def verdict(self, request: JudgeRequest) -> Verdict:
        v = self._verdict(request.dilemma, request.agreement)
        return Verdict(v.score, red_line_violations=list(v.red_line_violations),
                       resolves_conflict=v.resolves_conflict, rationale=v.rationale)

    def judge(self, requests: Sequence[JudgeRequest], seed: int = 0) -> list[Verdict]:
        self.stats.requests += len(requests)
        return [self.verdict(r) for r in requests]
