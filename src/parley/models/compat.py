"""Names that transformers changes between the versions our range admits (``transformers>=5.0,<6``).

transformers 5.2x renamed the K/V-cache argument and output field ``past_key_values`` to ``cache`` and keeps the
old name as a deprecated alias until 5.40 (LlamaModel.forward says so when called). Code that passes the old name
breaks on that release, code that passes the new one breaks on the 5.x releases before the rename; so the name is
read once from the installed library (the field of its own output class) and used everywhere we pass or read a
cache.
"""

from __future__ import annotations

import dataclasses

from transformers.modeling_outputs import BaseModelOutputWithPast

CACHE_ARG = "cache" if "cache" in {f.name for f in dataclasses.fields(BaseModelOutputWithPast)} else "past_key_values"


def with_cache(cache) -> dict:
    """Keyword arguments that hand ``cache`` to a model's forward or ``generate``, under this version's name."""
    return {CACHE_ARG: cache}


def cache_of(output):
    """The K/V cache a forward or ``generate`` returned (None if it kept none)."""
    return getattr(output, CACHE_ARG, None)
