"""Rationale text for MESO packages, and the check that it leaks no other party's private numbers.

The numbers in a package are computed by code; a writer only explains them. A language model may
still copy a number it should not know (or invent one that happens to equal another party's
reservation), so every AI text is scanned before it enters the review queue: a text that contains a
private number of any party other than its addressee is replaced by the template text, and the draft
records that a leak was blocked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from parley import ParleyError
from parley.mediation.schemas import Constraints, NumericPreference

_NUMBER = re.compile(r"(?<![\w.])[-+]?\$?\d[\d,]*(?:\.\d+)?%?")


@dataclass
class RationaleRequest:
    case_title: str
    party: str
    terms: dict
    favours: list[str]   # issues on which this package gives the party most of what it wants
    concedes: list[str]  # issues on which it gives ground


class RationaleWriter(Protocol):
    name: str

    def write(self, requests: list[RationaleRequest], seed: int) -> list[str]: ...


def _phrase(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else (names[0] if names else "")


class TemplateWriter:
    """Model-free rationales: what the package gives and asks, in the party's own terms."""

    name = "template"

    def write(self, requests: list[RationaleRequest], seed: int = 0) -> list[str]:
        texts = []
        for r in requests:
            gives = f"This package gives you the most on {_phrase(r.favours)}" if r.favours else \
                "This package balances every issue evenly"
            asks = f", and asks you to give ground on {_phrase(r.concedes)}." if r.concedes else "."
            texts.append(gives + asks + " It is worth about the same to you as the other packages offered with it.")
        return texts


class LLMWriter:
    """Rationales from any agent spec (smollm2, hf:..., openai:model@url), through the shared backends."""

    def __init__(self, spec: str, max_new_tokens: int = 96) -> None:
        from parley.agents.spec import BackendCache, parse_spec

        parsed = parse_spec(spec)
        if parsed.kind in ("scripted", "human"):
            raise ParleyError(f"rationale writer {spec!r}: use template, smollm2, hf:<model> or openai:<model>@<url>")
        self.name = spec
        self._spec = parsed
        self._cache = BackendCache()
        self.max_new_tokens = max_new_tokens

    def write(self, requests: list[RationaleRequest], seed: int = 0) -> list[str]:
        from parley.models import prompts
        from parley.models.generation import GenerationSettings

        _, template = prompts.load("mediator_rationale")
        conversations = [[{"role": "user", "content": template.render(
            case_title=r.case_title, party=r.party, terms=r.terms,
            favours=_phrase(r.favours), concedes=_phrase(r.concedes))}] for r in requests]
        settings = GenerationSettings(max_new_tokens=self.max_new_tokens, temperature=0.7, top_p=0.9)
        backend = self._cache.get(self._spec)
        return [c.text.strip() for c in backend.generate(conversations, settings, seed)]


def build_writer(spec: str) -> RationaleWriter:
    return TemplateWriter() if spec in ("template", "scripted:template") else LLMWriter(spec)


def numbers_in(text: str) -> list[float]:
    found = []
    for token in _NUMBER.findall(text):
        cleaned = token.replace("$", "").replace(",", "").rstrip("%")
        try:
            found.append(float(cleaned))
        except ValueError:
            continue
    return found


def private_numbers(constraints: Constraints) -> set[float]:
    """The numbers a party entered that nobody else may learn: reservations, ideals, its minimum value."""
    secret = {round(constraints.min_value, 6), round(constraints.min_value * 100, 6)}
    for pref in constraints.issues.values():
        if isinstance(pref, NumericPreference):
            secret.update({round(pref.ideal, 6), round(pref.reservation, 6)})
    return secret


def find_leaks(text: str, others: list[Constraints], public: set[float]) -> list[float]:
    """Private numbers of ``others`` that appear in ``text`` (numbers that are public anyway are exempt)."""
    secret = set().union(*(private_numbers(c) for c in others)) if others else set()
    secret -= {round(p, 6) for p in public}
    secret.discard(0.0)
    return sorted({n for n in numbers_in(text) if round(n, 6) in secret})
