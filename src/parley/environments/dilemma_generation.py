"""`parley scenarios generate`: synthesise deliberation scenarios with any agent, validated and de-duplicated.

The model writes only the dilemma (situation, two options, the values each protects, stakeholders);
personas, goals and red lines are derived by the same rule as the packaged MoralChoice scenarios, so
generated and curated scenarios have one shape. Every record names the model, prompt version and
seed that produced it. Invalid answers are counted with their reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from parley import ParleyError
from parley.models import prompts
from parley.models.generation import GenerationSettings
from parley.environments.dilemmas import Dilemma, deduplicate, load_dilemmas, parse_dilemma

PROMPT = "dilemma_generator"
NAMES = ("Alex", "Sam")


@dataclass
class GenerationReport:
    written: list[Dilemma] = field(default_factory=list)
    invalid: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    attempts: int = 0


def _split(record_id: str) -> str:
    bucket = int(hashlib.sha256(record_id.encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "validation" if bucket < 85 else "test"


def to_dilemma(data: dict, source: dict) -> Dilemma:
    """A schema-checked Dilemma from a generator's JSON answer (ParleyError naming what is wrong)."""
    if not isinstance(data, dict):
        raise ParleyError("the answer is not a JSON object")
    options = data.get("options")
    if not (isinstance(options, list) and len(options) == 2 and all(isinstance(o, str) and o.strip() for o in options)):
        raise ParleyError("options must be a list of exactly two non-empty strings")
    values = [data.get("values_a"), data.get("values_b")]
    if not all(isinstance(v, list) and v and all(isinstance(x, str) and x.strip() for x in v) for v in values):
        raise ParleyError("values_a and values_b must be non-empty lists of strings")
    a, b = (o.strip() for o in options)
    situation = str(data.get("situation") or "").strip()
    rid = "gen-" + hashlib.sha256(f"{situation}|{a}|{b}".encode()).hexdigest()[:12]

    def persona(name, stance, opposed, vals):
        return {"name": name, "stance": stance, "values": [v.strip() for v in vals],
                "goals": [f"reach an agreement that stays as close as possible to: \"{stance}\""],
                "red_lines": [f"will not agree to: \"{opposed}\""]}

    record = {"id": rid, "split": _split(rid), "situation": situation, "options": [a, b],
              "values_in_tension": [v.strip() for v in values[0] + values[1]],
              "stakeholders": [str(s) for s in (data.get("stakeholders") or ["the person who must decide"])],
              "personas": [persona(NAMES[0], a, b, values[0]), persona(NAMES[1], b, a, values[1])],
              "source": source}
    return parse_dilemma(record, "generated scenario")


def _json_object(text: str) -> dict | None:
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    if not match:
        return None
    try:
        return json.loads(match.group(0))
    except json.JSONDecodeError:
        return None


def generate_dilemmas(backend, model_name: str, n: int, seed: int = 0, max_attempts: int | None = None,
                      batch_size: int = 8, settings: GenerationSettings | None = None, on_progress=None) -> GenerationReport:
    prompt_id, template = prompts.load(PROMPT)
    settings = settings or GenerationSettings(max_new_tokens=300, temperature=0.9, top_p=0.95, batch_size=batch_size)
    examples = load_dilemmas()
    rng = random.Random(f"generate/{seed}")
    report = GenerationReport()
    max_attempts = max_attempts or 4 * n
    known = list(examples)
    while len(report.written) < n and report.attempts < max_attempts:
        k = min(batch_size, max_attempts - report.attempts)
        shown = [rng.choice(examples) for _ in range(k)]
        conversations = [[{"role": "user", "content": template.render(example=e)}] for e in shown]
        outs = backend.generate(conversations, settings, seed=seed + report.attempts)
        for i, out in enumerate(outs):
            report.attempts += 1
            source = {"generated_by": model_name, "prompt": prompt_id, "seed": seed + report.attempts - 1 - i,
                      "row": i, "example": shown[i].id}
            data = _json_object(out.text)
            try:
                dilemma = to_dilemma(data, source)
            except ParleyError as exc:
                reason = "no JSON object" if data is None else str(exc).split(":")[0][:80]
                report.invalid[reason] = report.invalid.get(reason, 0) + 1
                continue
            if not deduplicate([dilemma], known):
                report.duplicates += 1
                continue
            known.append(dilemma)
            if len(report.written) < n:
                report.written.append(dilemma)
        if on_progress:
            on_progress(len(report.written), n)
    return report


def write_dilemmas(dilemmas: list[Dilemma], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for d in dilemmas:
            f.write(json.dumps(d.model_dump(mode="json"), ensure_ascii=False) + "\n")
