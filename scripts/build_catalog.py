"""Rebuild the packaged product catalog from the real Amazon price-history listings.

Source: TianXiaSJTU/AmazonPriceHistory @ 834ad906 (Xia et al., ACL Findings 2024), Apache-2.0,
copied unchanged into ../shared/data/amazon_history_price/. Every price in the output is a real
price from that data set; nothing is invented. The split of each product is a pure function of
its ASIN, so rebuilding never moves a product between train/validation/test.

    python scripts/build_catalog.py [--source DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "amazon_history_price"
DEFAULT_OUT = ROOT / "src" / "parley" / "data" / "catalog.jsonl"
MAX_DESCRIPTION = 600


def parse_price(text: str) -> float:
    return float(text.replace("$", "").replace(",", "").strip())


def product_id(record: dict) -> str:
    link = record.get("amazon_link") or record["link"]
    match = re.search(r"/(?:dp|product)/([A-Z0-9]{10})", link)
    if not match:
        raise ValueError(f"no ASIN in link {link!r}")
    return match.group(1)


def split_of(pid: str) -> str:
    bucket = int(hashlib.sha256(pid.encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "validation" if bucket < 85 else "test"


def clean_description(record: dict) -> str:
    parts = [record.get("description") or "", record.get("features") or ""]
    text = " ".join(p for p in parts if isinstance(p, str))
    text = re.sub(r"\b(DESCRIPTION|BENEFITS|SUGGESTED USE|FEATURES)\b\s*", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_DESCRIPTION:
        text = text[:MAX_DESCRIPTION].rsplit(" ", 1)[0] + " ..."
    return text


def build(source: Path) -> list[dict]:
    products = []
    for path in sorted(source.glob("*.json")):
        for record in json.loads(path.read_text()):
            listing = max(parse_price(record["list_price"]), parse_price(record["current_price"]))
            lowest = parse_price(record["lowest_price"])
            if listing <= 0 or not 0 < lowest < listing:
                continue  # no room to bargain: lowest historical price is the listing price
            pid = product_id(record)
            products.append(
                {
                    "id": pid,
                    "title": record["title"].strip(),
                    "category": record["category"],
                    "description": clean_description(record),
                    "listing_price": round(listing, 2),
                    "lowest_price": round(lowest, 2),
                    "highest_price": round(parse_price(record["highest_price"]), 2),
                    "average_price": round(parse_price(record["average_price"]), 2),
                    "split": split_of(pid),
                    "source": "amazon_history_price",
                }
            )
    products.sort(key=lambda p: p["id"])
    return products


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if not args.source.is_dir():
        raise SystemExit(f"error: source folder {args.source} not found; pass --source DIR")
    products = build(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        for p in products:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    counts = {s: sum(p["split"] == s for p in products) for s in ("train", "validation", "test")}
    print(f"wrote {len(products)} products to {args.out}: {counts}")


if __name__ == "__main__":
    main()
