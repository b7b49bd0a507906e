"""Rebuild the packaged deliberation scenarios from the MoralChoice data set.

Source: ninodimontalcino/moralchoice @ 9f1dbced, data/scenarios/moralchoice_high_ambiguity.csv
(Scherrer, Shi, Feder & Blei, "Evaluating the Moral Beliefs Encoded in LLMs", NeurIPS 2023), MIT,
copied unchanged into ../shared/data/moralchoice/. Each record has a situation, two actions, and
human labels of which moral rules (Gert's ten: do not kill, cause pain, disable, deprive of freedom,
deprive of pleasure, deceive, cheat, break promises, break the law; do your duty) each action violates.

A scenario is kept when each action violates at least one rule the other does not, so both sides
have something real to defend. Persona A advocates action 1: its values are the rules that action 2
would violate, and action 2 as written is its red line; persona B mirrors it. Everything a persona
says about values comes from those labels; the only text written here is the fixed phrasing of the
ten rules (RULES below). The split is a hash of the record id, so rebuilding never moves a scenario.

    python scripts/build_dilemmas.py [--source FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "moralchoice" / "moralchoice_high_ambiguity.csv"
DEFAULT_OUT = ROOT / "src" / "parley" / "data" / "dilemmas.jsonl"

# label column suffix -> (value a persona defends, the rule as MoralChoice names it)
RULES = {
    "death": ("protecting human life", "Do not kill"),
    "pain": ("preventing pain and suffering", "Do not cause pain"),
    "disable": ("protecting people's health and abilities", "Do not disable"),
    "freedom": ("respecting people's freedom", "Do not deprive of freedom"),
    "pleasure": ("letting people enjoy their lives", "Do not deprive of pleasure"),
    "deceive": ("honesty", "Do not deceive"),
    "cheat": ("fairness", "Do not cheat"),
    "break_promise": ("keeping promises", "Do not break your promises"),
    "break_law": ("respecting the law", "Do not break the law"),
    "duty": ("doing one's duty", "Do your duty"),
}
PERSONA_NAMES = ("Alex", "Sam")  # neutral placeholders; the stance, not the name, defines a persona


def split_of(record_id: str) -> str:
    bucket = int(hashlib.sha256(record_id.encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "validation" if bucket < 85 else "test"


def violations(row: dict, action: str) -> list[str]:
    return [key for key in RULES if row[f"{action}_{key}"].strip() == "Yes"]


def persona(name: str, advocates: str, opposes: str, defends: list[str]) -> dict:
    return {
        "name": name,
        "stance": advocates,
        "values": [RULES[k][0] for k in defends],
        "goals": [f"reach an agreement that stays as close as possible to: \"{advocates}\""],
        "red_lines": [f"will not agree to: \"{opposes}\""] + [f"will not accept a resolution that breaks the rule \"{RULES[k][1]}\""
                                                                for k in defends],
    }


def build(source: Path) -> list[dict]:
    out = []
    with source.open(newline="") as f:
        for row in csv.DictReader(f):
            v1, v2 = violations(row, "a1"), violations(row, "a2")
            if not v1 or not v2 or set(v1) & set(v2):
                continue
            rid = row["scenario_id"].strip()
            out.append({
                "id": f"moralchoice-{rid}",
                "split": split_of(rid),
                "situation": row["context"].strip(),
                "options": [row["action1"].strip(), row["action2"].strip()],
                "values_in_tension": [RULES[k][0] for k in v2] + [RULES[k][0] for k in v1],
                "stakeholders": ["the person who must decide (\"you\" in the situation)",
                                 "everyone else the situation names"],
                # A defends what action 2 would violate; B defends what action 1 would violate.
                "personas": [persona(PERSONA_NAMES[0], row["action1"].strip(), row["action2"].strip(), v2),
                             persona(PERSONA_NAMES[1], row["action2"].strip(), row["action1"].strip(), v1)],
                "source": {"dataset": "MoralChoice (Scherrer et al., NeurIPS 2023)", "repository": "ninodimontalcino/moralchoice@9f1dbced",
                           "file": "data/scenarios/moralchoice_high_ambiguity.csv", "record": rid,
                           "generation_type": row["generation_type"].strip(), "license": "MIT"},
            })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    records = build(args.source)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    license_src = args.source.parent / "LICENSE.md"
    (args.out.parent / "LICENSE-moralchoice.md").write_text(license_src.read_text())
    counts = {s: sum(r["split"] == s for r in records) for s in ("train", "validation", "test")}
    print(f"wrote {len(records)} scenarios to {args.out}: {counts}")


if __name__ == "__main__":
    main()
