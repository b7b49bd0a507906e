"""Rebuild the packaged general-capability subset: 200 GSM8K test problems.

Source: openai/grade-school-math @ 3101c7d5, test set (Cobbe et al., 2021), MIT, copied unchanged into
../shared/data/gsm8k/. The subset is the problems whose index hashes lowest (a fixed, unbiased pick);
the answer is the number after '####'.

    python scripts/build_general.py [--n 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "gsm8k"
OUT = ROOT / "src" / "parley" / "data" / "gsm8k_subset.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (SOURCE / "test.jsonl").read_text().splitlines() if line.strip()]
    ranked = sorted(range(len(rows)), key=lambda i: hashlib.sha256(f"gsm8k-test-{i}".encode()).hexdigest())[: args.n]
    with OUT.open("w") as f:
        for i in sorted(ranked):
            answer = rows[i]["answer"].split("####")[-1].strip().replace(",", "")
            f.write(json.dumps({"id": f"gsm8k-test-{i}", "question": rows[i]["question"], "answer": answer,
                                "source": "openai/grade-school-math@3101c7d5 test.jsonl (MIT)"}) + "\n")
    (OUT.parent / "LICENSE-gsm8k.md").write_text((SOURCE / "LICENSE").read_text())
    print(f"wrote {len(ranked)} problems to {OUT}")


if __name__ == "__main__":
    main()
