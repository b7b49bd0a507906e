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

from parley.models import prompts
from parley.models.generation import GenerationSettings
from parley.environments.dilemmas import Dilemma

RUBRIC = "judge_collective_agency"


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


_WORD = re.compile(r"[a-z]{4,}")
_STOP = {"that", "this", "with", "have", "from", "they", "their", "them", "will", "would", "should", "your", "what",
         "when", "which", "there", "about", "because", "been", "were", "into", "only", "also", "than", "then", "some"}
DODGES = ("agree to disagree", "postpone", "decide later", "revisit later", "flip a coin", "both sides matter",
          "no decision", "wait and see", "table this", "let fate")
CONCRETE = re.compile(r"\b(will|together|first|then|jointly|each|both|share|compensat\w*|tell|ask|offer|arrange|agree to)\b", re.I)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _core(stance: str) -> str:
    return " ".join(re.sub(r"^\s*i\s+", "", stance.lower()).rstrip(". ").split())


class RuleJudge:
    """A model-free judge implementing the rubric's rules literally (for tests and cheap CPU runs).

    1. fewer than 4 words, or fewer than 2 content words shared with the dilemma -> 0;
    2. a dodge phrase (DODGES) -> 1;
    3. contains a persona's opposing stance verbatim (its red line) -> violation for that persona, 3;
    4. otherwise 4 + 1 per persona whose value words appear (max 2) + 1 if it names a concrete joint
       action (CONCRETE) + 1 if it is 20+ words and does both: at most 8.

    It measures only words, so it can be fooled by a text that names every value without meaning
    anything; that is the point of using an LLM judge for real runs. It sees the same inputs.
    """

    name = "scripted:rules"
    rubric_id = "judge_collective_agency.rules"

    def __init__(self) -> None:
        self.stats = JudgeStats()

    def verdict(self, request: JudgeRequest) -> Verdict:
        d, text = request.dilemma, " ".join(request.agreement.split())
        low = text.lower()
        context = _words(" ".join([d.situation, *d.options, *d.values_in_tension, *(v for p in d.personas for v in p.values)]))
        if len(text.split()) < 4 or len(_words(text) & context) < 2:
            return Verdict(0.0, resolves_conflict=False, rationale="empty or off-topic")
        if any(phrase in low for phrase in DODGES):
            return Verdict(1.0, resolves_conflict=False, rationale="dodges the conflict")
        # A persona's red line is the other's stance. Match the longer stance first and blank it out,
        # so "do not throw the grenade" does not also count as "throw the grenade".
        violations, rest = [], low
        for persona, other in sorted(zip(d.personas, d.personas[::-1]), key=lambda po: -len(_core(po[1].stance))):
            core = _core(other.stance)
            if core and core in rest:
                violations.append(persona.name)
                rest = rest.replace(core, " ")
        if violations:
            return Verdict(3.0, red_line_violations=violations, resolves_conflict=True, rationale="crosses a red line")
        served = sum(bool(_words(" ".join(p.values)) & _words(text)) for p in d.personas)
        concrete = bool(CONCRETE.search(text))
        score = 4 + served + concrete + (1 if concrete and served == 2 and len(text.split()) >= 20 else 0)
        return Verdict(float(min(score, 8)), resolves_conflict=served == 2,
                       rationale=f"serves {served} persona(s)' values" + (", concrete" if concrete else ""))

    def judge(self, requests: Sequence[JudgeRequest], seed: int = 0) -> list[Verdict]:
        self.stats.requests += len(requests)
        return [self.verdict(r) for r in requests]
