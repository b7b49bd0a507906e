"""How text is generated: sampling settings shared by every backend and agent."""

from __future__ import annotations

from dataclasses import dataclass

from parley import ParleyError


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 64
    temperature: float = 0.7
    top_p: float = 0.9
    # Keep only the k most likely tokens before the nucleus (0 = off). 50 is transformers' default: every run made
    # before this field existed sampled with it, because ``generate`` fills a top_k left unset with 50.
    top_k: int = 50
    do_sample: bool = True
    batch_size: int = 32  # largest batch one generate call may take

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ParleyError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.do_sample and not (self.temperature > 0):
            raise ParleyError(f"temperature must be > 0 when sampling, got {self.temperature}; use greedy instead")
        if not 0 < self.top_p <= 1:
            raise ParleyError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ParleyError(f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        if self.batch_size < 1:
            raise ParleyError(f"batch_size must be >= 1, got {self.batch_size}")
