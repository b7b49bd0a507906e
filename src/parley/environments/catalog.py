"""Product catalogs: the packaged one (real Amazon listings; rebuilt by scripts/build_catalog.py), or your own.

Your own catalog is a JSONL or CSV file, one product per row (``examples/catalog.csv`` is a ready-made one):

=============== ========= =====================================================================
field           required  meaning
=============== ========= =====================================================================
title           yes       what is sold
category        yes       any label; results are also reported per category
listing_price   yes       the public asking price (a number, or a string such as "$1,299.99")
floor           one of    the seller's private minimum price
lowest_price    these     the lowest historical price (used as the floor when ``floor`` is absent)
description     no        shown to both sides
id              no        a stable product id (default: a hash of title and category)
split           no        train | validation | test (default: by a hash of the id: 70/15/15)
=============== ========= =====================================================================

Every row is checked before anything runs; an error names the file, the row and the field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parley import ParleyError

SPLITS = ("train", "validation", "test")
Split = Literal["train", "validation", "test"]  # a scenario's split, as pydantic models check it
# Shares of a user catalog's products per split when rows do not name one (by a hash of the product id, so
# adding or removing a product never moves another between splits).
HASH_SPLIT = (("train", 0.70), ("validation", 0.85), ("test", 1.0))


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    category: str
    description: str
    listing_price: float
    lowest_price: float  # the seller's floor in every scenario of this product
    highest_price: float
    average_price: float
    split: str
    source: str


@lru_cache(maxsize=1)
def _packaged() -> tuple[Product, ...]:
    text = resources.files("parley.data").joinpath("catalog.jsonl").read_text()
    return tuple(Product(**json.loads(line)) for line in text.splitlines() if line.strip())


def _price(value: object) -> object:
    if isinstance(value, str):
        cleaned = value.strip().replace(",", "").removeprefix("$").strip()
        if not cleaned:
            return None
        return cleaned
    return value


class ProductRow(BaseModel):
    """One row of a user catalog, as written; checked field by field."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str | None = None
    title: str = Field(min_length=1, max_length=500)
    category: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=5000)
    listing_price: float = Field(gt=0, lt=1e9, allow_inf_nan=False)
    floor: float | None = Field(None, gt=0, lt=1e9, allow_inf_nan=False)
    lowest_price: float | None = Field(None, gt=0, lt=1e9, allow_inf_nan=False)
    split: Split | None = None

    @field_validator("listing_price", "floor", "lowest_price", mode="before")
    @classmethod
    def _money(cls, value: object) -> object:
        return _price(value)

    @field_validator("id", "split", "description", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _floor(self) -> "ProductRow":
        floor = self.floor if self.floor is not None else self.lowest_price
        if floor is None:
            raise ValueError("needs the seller's floor: a 'floor' or 'lowest_price' column")
        if floor > self.listing_price:
            raise ValueError(f"the floor ({floor:g}) is above the listing price ({self.listing_price:g}); "
                             "a seller cannot have to sell above its own asking price")
        return self

    def product(self, source: str) -> Product:
        floor = self.floor if self.floor is not None else self.lowest_price
        pid = self.id or hashlib.sha256(f"{self.title}\x00{self.category}".encode()).hexdigest()[:12]
        return Product(id=pid, title=self.title, category=self.category, description=self.description or "",
                       listing_price=round(self.listing_price, 2), lowest_price=round(floor, 2),
                       highest_price=round(self.listing_price, 2), average_price=round(self.listing_price, 2),
                       split=self.split or hash_split(pid), source=source)


def hash_split(product_id: str) -> str:
    u = int(hashlib.sha256(product_id.encode()).hexdigest()[:8], 16) / 16**8
    return next(name for name, upper in HASH_SPLIT if u < upper)


def _rows(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, raw row) for a JSONL or CSV file."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ParleyError(f"{path}, line {number}: not valid JSON ({exc.msg}); write one JSON object per line") from None
            if not isinstance(row, dict):
                raise ParleyError(f"{path}, line {number}: expected a JSON object with the product's fields")
            rows.append((number, row))
        return rows
    if path.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        if not reader.fieldnames:
            raise ParleyError(f"{path}: no header row; the first line must name the columns (title,category,...)")
        return [(number, {k.strip(): v for k, v in row.items() if k is not None})
                for number, row in enumerate(reader, start=2)]
    raise ParleyError(f"{path}: unknown catalog format {path.suffix or '(no extension)'!r}; use .jsonl or .csv")


def read_catalog(path: str | Path) -> tuple[Product, ...]:
    """A user catalog, validated: every error names the file, the line and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParleyError(f"catalog {path} does not exist; pass a JSONL or CSV file (see examples/catalog.csv)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParleyError(f"catalog {path} could not be read: {exc}") from None
    products: list[Product] = []
    seen: dict[str, int] = {}
    errors: list[str] = []
    for number, raw in _rows(path, text):
        try:
            row = ProductRow.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                errors.append(f"{path}, line {number}, field {where!r}: {err['msg']}"
                              + (f" (got {err['input']!r})" if where != "row" and "input" in err and not isinstance(err["input"], dict) else ""))
            continue
        product = row.product(source=f"user:{path.name}")
        if product.id in seen:
            errors.append(f"{path}, line {number}, field 'id': product id {product.id!r} repeats line {seen[product.id]}")
            continue
        seen[product.id] = number
        products.append(product)
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise ParleyError("the catalog has invalid rows:\n  " + "\n  ".join(shown))
    if not products:
        raise ParleyError(f"catalog {path} has no products")
    return tuple(products)


@lru_cache(maxsize=8)
def _user_catalog(path: str, mtime_ns: int) -> tuple[Product, ...]:
    return read_catalog(path)


def load_catalog(split: str | None = None, path: str | Path | None = None) -> list[Product]:
    """All products, or those of one split, of the packaged catalog or the file at ``path``. Splits never share
    a product."""
    if split is not None and split not in SPLITS:
        raise ParleyError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if path is None:
        products = _packaged()
    else:
        try:
            mtime = Path(path).stat().st_mtime_ns
        except OSError:
            raise ParleyError(f"catalog {path} does not exist; pass a JSONL or CSV file (see examples/catalog.csv)") from None
        products = _user_catalog(str(path), mtime)
    chosen = [p for p in products if split is None or p.split == split]
    if path is not None and split is not None and not chosen:
        counts = {s: sum(p.split == s for p in products) for s in SPLITS}
        raise ParleyError(f"catalog {path} has no products in the {split} split ({counts}); "
                          "add rows, or give some rows split={split}")
    return chosen
