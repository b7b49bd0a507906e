"""The registry every floor keeps its games in: name -> entry, and an error naming the registered ones."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from parley import ParleyError

T = TypeVar("T")


class Registry(dict, Generic[T]):
    """Entries by their ``name``. ``what`` names a key in errors ("env", "game"); ``load`` imports the floor's
    built-in entries the first time one is looked up (so that reading a registry loads no game's machinery)."""

    def __init__(self, what: str, load: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.what, self._load = what, load

    def register(self, entry: T) -> T:
        self[entry.name] = entry
        return entry

    def lookup(self, name: str) -> T:
        if self._load:
            self._load()
        if name not in self:
            raise ParleyError(f"unknown {self.what} {name!r}: expected one of {', '.join(sorted(self))}")
        return self[name]
