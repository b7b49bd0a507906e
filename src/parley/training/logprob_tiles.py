"""TRL's fused LM head on the CPU, in smaller token tiles: the same numbers in a fraction of the memory.

TRL's GRPO trainer scores tokens through its chunked log-prob function (``trl.kernels.chunked_logprob``), which
projects ``[TOKEN_CHUNK_SIZE, vocabulary chunk]`` tiles of logits instead of all of them. Without Triton (the CPU)
it folds each tile with plain torch ops, and every op makes a full-size fp32 temporary: at TRL's 4,096 tokens x
32,768 words a tile is 512 MB, and its forward and backward hold several at once. On a 6,000-token pass that was
4.8 GB above the inputs (1.2 GB at 1,024 tokens, the same log-probs and gradients: benchmarks/logprob_tiles.py and
docs/benchmarks.md, "Where the deliberation runs' memory went"). py-spy stacks at the deliberation runs' 10-20 GB
peaks were in this function; most of such a peak is the loss pass's activations, which this does not change.

Each token's log-prob is computed from its own row of the tile, so the token tile's height changes how many rows
run at once, not what any row computes. TRL exposes no setting for it; it reads the module global at call time,
so the GRPO trainer (training/shared_prefix.py) narrows it while it trains and puts it back after (a GPU keeps
TRL's tiles: its Triton kernels do not make those temporaries).
"""

from __future__ import annotations

import contextlib
import importlib

CPU_TOKEN_TILE = 1024  # tokens per tile on the CPU; TRL's default is 4,096
_MODULES = ("trl.kernels.chunked_logprob", "trl.kernels.chunked_divergence")  # each has its own TOKEN_CHUNK_SIZE


@contextlib.contextmanager
def cpu_token_tiles(device, tokens: int = CPU_TOKEN_TILE):
    """While the block runs, TRL's chunked log-prob (and divergence) functions take at most ``tokens`` tokens per
    tile, when ``device`` is the CPU; elsewhere, or with a TRL without these modules, nothing changes."""
    patched = []
    if getattr(device, "type", str(device)) == "cpu":
        for name in _MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            original = getattr(module, "TOKEN_CHUNK_SIZE", None)
            if isinstance(original, int) and original > tokens:
                patched.append((module, original))
                module.TOKEN_CHUNK_SIZE = tokens
    try:
        yield
    finally:
        for module, original in patched:
            module.TOKEN_CHUNK_SIZE = original
