"""General-capability retention: accuracy on a shipped GSM8K subset, before vs after training.

Greedy decoding, zero-shot, the model's own chat template. The answer is the number after
"Answer:" when the model writes one, else the last number in its reply. Exact match on the value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from parley import ParleyError
from parley.evaluation.run_stamp import RunStamp
from parley.models.generation import GenerationSettings
from parley.evaluation.stats import bootstrap_ci

INSTRUCTION = "Solve the problem. Think step by step, then end with a line 'Answer: <number>'.\n\n"
_NUMBER = r"-?\$?\d[\d,]*(?:\.\d+)?"


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str
    source: str


@lru_cache(maxsize=1)
def load_problems() -> tuple[Problem, ...]:
    text = resources.files("parley.data").joinpath("gsm8k_subset.jsonl").read_text()
    return tuple(Problem(**json.loads(line)) for line in text.splitlines() if line.strip())


def extract_answer(text: str) -> float | None:
    text = text or ""
    tagged = re.findall(rf"answer\s*(?:is|:)?\s*({_NUMBER})", text, re.IGNORECASE)
    found = tagged or re.findall(_NUMBER, text)
    if not found:
        return None
    try:
        return float(found[-1].replace("$", "").replace(",", ""))
    except ValueError:
        return None


def is_correct(reply: str, answer: str) -> bool:
    value = extract_answer(reply)
    return value is not None and abs(value - float(answer)) < 1e-6


def run_general_eval(backend, n: int = 50, max_new_tokens: int = 256, batch_size: int = 16,
                     out: Path | None = None, on_batch=None) -> dict:
    problems = load_problems()
    if not 1 <= n <= len(problems):
        raise ParleyError(f"--n must be between 1 and {len(problems)} (the shipped GSM8K subset), got {n}")
    problems = problems[:n]
    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=False, batch_size=batch_size)
    stamp = RunStamp()
    replies = []
    for start in range(0, n, batch_size):
        chunk = problems[start:start + batch_size]
        outs = backend.generate([[{"role": "user", "content": INSTRUCTION + p.question}] for p in chunk], settings, seed=0)
        replies.extend(o.text for o in outs)
        if on_batch:
            on_batch(len(replies), n)
    correct = [is_correct(r, p.answer) for r, p in zip(replies, problems)]
    summary = {"benchmark": "gsm8k-subset", "n": n, "accuracy": sum(correct) / n,
               "accuracy_ci95": bootstrap_ci([float(c) for c in correct]), "max_new_tokens": max_new_tokens,
               "seconds": stamp.seconds(), **stamp.fields()}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        with (out / "general.jsonl").open("w") as f:
            for p, r, c in zip(problems, replies, correct):
                f.write(json.dumps({"id": p.id, "answer": p.answer, "reply": r, "extracted": extract_answer(r), "correct": c}) + "\n")
        (out / "general_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
