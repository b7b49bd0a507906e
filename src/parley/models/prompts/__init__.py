"""Versioned persona prompts. Files are named ``<persona>.v<N>.md``; the newest version is used
unless a version is asked for, and the version used is recorded with every episode."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import jinja2

from parley import ParleyError

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


def available() -> dict[str, list[int]]:
    versions: dict[str, list[int]] = {}
    for entry in resources.files("parley.models.prompts").iterdir():
        m = re.fullmatch(r"(.+)\.v(\d+)\.md", entry.name)
        if m:
            versions.setdefault(m.group(1), []).append(int(m.group(2)))
    return {k: sorted(v) for k, v in versions.items()}


def check_version(persona: str, version: int | None, context: str = "") -> None:
    """A ParleyError (``context`` first, e.g. "persona 'guided.v9': ") when prompt ``persona`` has no ``version``;
    None asks for no particular version and always passes."""
    known = available().get(persona, [])
    if version is not None and version not in known:
        raise ParleyError(f"{context}the {persona} prompt has no version {version}; it has "
                          + ", ".join(f"v{v}" for v in known))


@lru_cache(maxsize=None)
def load(persona: str, version: int | None = None) -> tuple[str, jinja2.Template]:
    """(prompt id such as 'seller_hostile.v1', compiled template)."""
    versions = available().get(persona)
    if not versions:
        raise ParleyError(f"no prompt named {persona!r}; available: {', '.join(sorted(available()))}")
    version = version or versions[-1]
    if version not in versions:
        raise ParleyError(f"prompt {persona!r} has no version {version}; available: {versions}")
    name = f"{persona}.v{version}"
    text = resources.files("parley.models.prompts").joinpath(f"{name}.md").read_text()
    return name, _ENV.from_string(text.strip())
