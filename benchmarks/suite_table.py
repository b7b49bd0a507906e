"""One markdown table from several `parley eval bargain` runs of the same suite, for docs/benchmarks.md.

    python benchmarks/suite_table.py runs/suite-untrained:untrained runs/suite-trained:trained

Each argument is a suite output folder, optionally with a label for its buyer. Rows are grouped by seller: the
buyers under test first, then the scripted baselines once (they play the same scenarios in every run of the
same suite, seed and size, so their rows are the same; the script checks that and refuses to merge otherwise).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from parley.evaluation.bargain_suite import TABLE_COLUMNS, cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="FOLDER[:LABEL]")
    args = parser.parse_args()
    summaries = []
    for item in args.runs:
        folder, _, label = item.partition(":")
        summary = json.loads((Path(folder) / "summary.json").read_text())
        summaries.append((label or summary["config"]["buyer"], summary))
    first = summaries[0][1]
    for _, s in summaries[1:]:
        same = (s["suite_version"], s["config"]["scenarios"], s["config"]["seed"], s["config"]["catalog"])
        if same != (first["suite_version"], first["config"]["scenarios"], first["config"]["seed"], first["config"]["catalog"]):
            raise SystemExit("the runs differ in suite version, size, seed or catalog: their rows are not comparable")
    baselines: dict[tuple[str, str], dict] = {}
    for _, s in summaries:
        for r in s["rows"]:
            if r["baseline"]:
                key = (r["seller"], r["buyer"])
                if key in baselines and baselines[key]["metrics"] != r["metrics"]:
                    raise SystemExit(f"baseline row {key} differs between runs")
                baselines[key] = r
    sellers = list(dict.fromkeys(r["seller"] for _, s in summaries for r in s["rows"]))
    header = ["seller", "buyer"] + [h for _, _, h in TABLE_COLUMNS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for seller in sellers:
        rows = [(label, r) for label, s in summaries for r in s["rows"] if r["seller"] == seller and not r["baseline"]]
        rows += [(f"{b} (baseline)", r) for (sl, b), r in baselines.items() if sl == seller]
        for label, r in rows:
            print("| " + " | ".join([seller, label] + [cell(r, g, m, ci=h.endswith("[95% CI]")) for g, m, h in TABLE_COLUMNS]) + " |")
    mix = first["scenario_mix"]
    print(f"\n{first['suite_version']}, {first['config']['scenarios']} test scenarios ({mix['mutual']} MI, "
          f"{mix['conflicting']} CI), seed {first['config']['seed']}, catalog {first['config']['catalog']}")


if __name__ == "__main__":
    main()
