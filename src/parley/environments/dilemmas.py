"""Deliberation scenarios: a moral dilemma and two conflicting personas (rebuilt by scripts/build_dilemmas.py).

The schema is a pydantic model, so packaged, generated and user-supplied scenarios are validated
the same way, with errors that name the field.
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parley import ParleyError
from parley.environments.catalog import SPLITS, Split

_Text = Field(min_length=3, max_length=2000)


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=60)
    stance: str = _Text
    values: tuple[str, ...] = Field(min_length=1)
    goals: tuple[str, ...] = Field(min_length=1)
    red_lines: tuple[str, ...] = Field(min_length=1)


class Dilemma(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=120)
    split: Split
    situation: str = _Text
    options: tuple[str, ...] = Field(min_length=2)
    values_in_tension: tuple[str, ...] = Field(min_length=2)
    stakeholders: tuple[str, ...] = Field(min_length=1)
    personas: tuple[Persona, Persona]
    source: dict

    @field_validator("personas")
    @classmethod
    def _conflict(cls, personas: tuple[Persona, Persona]) -> tuple[Persona, Persona]:
        a, b = personas
        if a.name == b.name:
            raise ValueError("the two personas need different names")
        if a.stance.strip().lower() == b.stance.strip().lower():
            raise ValueError("the two personas take the same stance: there is no conflict to deliberate")
        return personas

    def fingerprint(self) -> str:
        """Identity for de-duplication: the situation and both stances, case- and space-insensitive."""
        norm = lambda s: " ".join(s.lower().split())  # noqa: E731
        key = "|".join([norm(self.situation), *sorted(norm(p.stance) for p in self.personas)])
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def parse_dilemma(data: dict, where: str = "scenario") -> Dilemma:
    try:
        return Dilemma.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ParleyError(f"invalid {where}: {problems}") from None


@lru_cache(maxsize=1)
def _packaged() -> tuple[Dilemma, ...]:
    text = resources.files("parley.data").joinpath("dilemmas.jsonl").read_text()
    return tuple(parse_dilemma(json.loads(line), f"packaged dilemma line {i}")
                 for i, line in enumerate(text.splitlines(), 1) if line.strip())


def load_dilemmas(split: str | None = None, path: str | Path | None = None) -> list[Dilemma]:
    """The packaged scenarios (or those in a JSONL file), optionally one split."""
    if split is not None and split not in SPLITS:
        raise ParleyError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if path is None:
        items = list(_packaged())
    else:
        path = Path(path)
        if not path.is_file():
            raise ParleyError(f"scenario file {path} does not exist")
        items = []
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ParleyError(f"{path}:{i} is not valid JSON ({exc.msg})") from None
                items.append(parse_dilemma(data, f"scenario at {path}:{i}"))
    return [d for d in items if split is None or d.split == split]


def sample_dilemmas(split: str, n: int, seed: int = 0, stream: str = "") -> list[Dilemma]:
    """``n`` dilemmas of ``split``, the one sampler of every command: a pure function of (split, seed, stream,
    index), cycling when n exceeds the split. ``stream`` keeps draws apart that must not coincide (one per
    warm-start teacher)."""
    pool = load_dilemmas(split)
    random.Random(f"dilemmas/{split}/{seed}/{stream}").shuffle(pool)
    return [pool[i % len(pool)] for i in range(n)]


def deduplicate(dilemmas: list[Dilemma], existing: list[Dilemma] = ()) -> list[Dilemma]:
    seen = {d.fingerprint() for d in existing}
    out = []
    for d in dilemmas:
        if d.fingerprint() not in seen:
            seen.add(d.fingerprint())
            out.append(d)
    return out
