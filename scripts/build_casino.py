"""Rebuild src/parley/data/casino.jsonl from the CaSiNo corpus (CC BY 4.0).

Source: kushalchawla/CaSiNo @ 2f6ed4a6, data/split/casino_{train,valid,test}.json (Chawla et al., NAACL 2021),
read from ../shared/data/casino. One line per dialogue: the two campers' priorities and reasons (what the game
needs) and the human outcome (what the people did, the reference row of every CaSiNo table). The chat itself,
the demographics and the personality scores are left out: the game does not use them.

    python scripts/build_casino.py [--source ../shared/data/casino]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ITEMS = ("food", "water", "firewood")
LEVELS = {"High": "high", "Medium": "medium", "Low": "low"}
SPLITS = {"train": "train", "valid": "validation", "test": "test"}


def camper(info: dict) -> dict:
    return {"priorities": {v.lower(): LEVELS[k] for k, v in info["value2issue"].items()},
            "reasons": {v.lower(): info["value2reason"][k].strip() for k, v in info["value2issue"].items()}}


def human_outcome(dialogue: dict, agents: list[str]) -> dict:
    """The deal the people submitted and accepted, as each side's package counts; or how it ended without one."""
    logs = dialogue["chat_logs"]
    final = logs[-1]["text"] if logs else ""
    if final == "Accept-Deal":
        submit = next(m for m in reversed(logs) if m["text"] == "Submit-Deal")
        submitter = agents.index(submit["id"])
        you = {k.lower(): int(v) for k, v in submit["task_data"]["issue2youget"].items()}
        they = {k.lower(): int(v) for k, v in submit["task_data"]["issue2theyget"].items()}
        shares = [you, they] if submitter == 0 else [they, you]
        return {"deal": True, "shares": [[s[i] for i in ITEMS] for s in shares]}
    return {"deal": False, "reason": "walked_away" if final == "Walk-Away" else (final or "empty").lower()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/casino")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src/parley/data/casino.jsonl")
    args = parser.parse_args()
    rows = []
    for file_split, split in SPLITS.items():
        for d in json.loads((args.source / f"casino_{file_split}.json").read_text()):
            agents = sorted(d["participant_info"])  # mturk_agent_1, mturk_agent_2
            rows.append({"id": f"casino-{d['dialogue_id']}", "split": split,
                         "campers": [camper(d["participant_info"][a]) for a in agents],
                         "human": human_outcome(d, agents),
                         "source": {"dataset": "CaSiNo", "dialogue_id": d["dialogue_id"], "file": f"casino_{file_split}.json"}})
    with args.out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} scenarios to {args.out}")


if __name__ == "__main__":
    main()
