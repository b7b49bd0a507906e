"""Write examples/catalog.csv: 40 real products (Amazon price history) in the user-catalog format.

The rows are copied from the packaged catalog (src/parley/data/catalog.jsonl, built from
TianXiaSJTU/AmazonPriceHistory, Apache-2.0, by scripts/build_catalog.py): real titles, listing prices and
lowest historical prices, nothing invented. Prices are written the way the source writes them ("$1,299.99")
and the floor as ``lowest_price``, to show that a catalog in the source's own notation loads as it is. No
``split`` column: the rows are split by a hash of their id, as any user catalog without one.

    python scripts/build_example_catalog.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("electronics", "home-kitchen", "sports-outdoors", "toys-games")
PER_CATEGORY = 10


def main() -> None:
    rows = [json.loads(line) for line in (ROOT / "src/parley/data/catalog.jsonl").read_text().splitlines() if line.strip()]
    chosen = []
    for category in CATEGORIES:
        chosen += sorted((r for r in rows if r["category"] == category), key=lambda r: r["id"])[:PER_CATEGORY]
    out = ROOT / "examples" / "catalog.csv"
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "category", "description", "listing_price", "lowest_price"])
        for r in chosen:
            description = r["description"][:240].rsplit(" ", 1)[0] + " ..." if len(r["description"]) > 240 else r["description"]
            writer.writerow([r["id"], r["title"], r["category"], description,
                             f"${r['listing_price']:,.2f}", f"${r['lowest_price']:,.2f}"])
    print(f"wrote {len(chosen)} products to {out}")


if __name__ == "__main__":
    main()
