"""The packaged product catalog (real Amazon listings; rebuilt by scripts/build_catalog.py)."""

from __future__ import annotations

from typing import Literal

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from parley import ParleyError

SPLITS = ("train", "validation", "test")
Split = Literal["train", "validation", "test"]  # a scenario's split, as pydantic models check it


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    category: str
    description: str
    listing_price: float
    lowest_price: float
    highest_price: float
    average_price: float
    split: str
    source: str


@lru_cache(maxsize=1)
def _all_products() -> tuple[Product, ...]:
    text = resources.files("parley.data").joinpath("catalog.jsonl").read_text()
    return tuple(Product(**json.loads(line)) for line in text.splitlines() if line.strip())


def load_catalog(split: str | None = None) -> list[Product]:
    """All products, or those of one split. Splits never share a product."""
    if split is not None and split not in SPLITS:
        raise ParleyError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return [p for p in _all_products() if split is None or p.split == split]
