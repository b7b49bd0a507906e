"""One decoding step of the slot engine at batch 32, taken apart: where its time goes, and what would make it cheaper.

The rollout benchmark (benchmarks/rollout.py) says how fast whole episodes play; this says why. It fills 32 slots
with ``--width`` - 1 positions of K/V (a prefill of random tokens on the embedded SmolLM2), then times one decoding
forward of all 32 rows, and prints:

- the forward itself (best and median of 8) and a torch.profiler table of its operators;
- the attention of one layer called alone on the same K/V (as a view of the slot cache and as a contiguous copy,
  with and without the mask): called in a loop on one layer's 27 MB of K/V it runs from the CPU's caches, so the
  gap to the in-model figure is what reading the K/V of 30 layers from memory costs;
- the matmul rate at 32 rows of each of SmolLM2's linear shapes (the fp32 peak of benchmarks/rollout.py is a
  2048 x 2048 product, which 32 rows never reach);
- with ``--compile``: the same step through ``torch.compile(dynamic=True)`` (the width grows every step, the row
  count changes as slots empty, so static shapes would recompile all the time), its compile time and step time.

    python benchmarks/decode_step.py [--width 560] [--compile]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn.functional import scaled_dot_product_attention as sdpa

from parley.agents import BackendCache, GenerationSettings, build_agent
from parley.environments.bargain import Role
from parley.models.continuous import SlotEngine

ROWS = 32


def filled_engine(backend, width: int, seed: int = 0) -> SlotEngine:
    engine = SlotEngine(backend.model, backend.tokenizer, backend.stop_ids, backend.tokenizer.pad_token_id, slots=ROWS)
    torch.manual_seed(seed)
    ids = torch.randint(100, 40000, (ROWS, width - 1)).tolist()
    engine._forward(list(range(ROWS)), ids, [0] * ROWS, [width - 1] * ROWS)
    for slot in range(ROWS):
        engine.slot_ids[slot] = ids[slot]
    return engine


def time_decode(engine: SlotEngine, width: int, repeats: int = 8) -> tuple[float, float]:
    """(best, median) seconds of one decoding forward of every slot at position ``width`` - 1."""
    tokens, starts = [[5] for _ in range(ROWS)], [width - 1] * ROWS
    engine._forward(list(range(ROWS)), tokens, starts, [1] * ROWS)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        engine._forward(list(range(ROWS)), tokens, starts, [1] * ROWS)
        times.append(time.perf_counter() - began)
    return min(times), sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=560, help="positions each row attends to (the v2 run's mean: 561)")
    parser.add_argument("--compile", action="store_true", help="also time the step through torch.compile(dynamic=True)")
    args = parser.parse_args()
    width = args.width

    backend = build_agent("smollm2", Role.BUYER, GenerationSettings(), BackendCache()).backend
    backend.model.eval()
    engine = filled_engine(backend, width)
    best, median = time_decode(engine, width)
    print(f"decoding forward, {ROWS} rows x {width} positions: best {1e3 * best:.1f} ms, median {1e3 * median:.1f} ms")

    layer_kv = engine.cache.keys[0][:, :, :width], engine.cache.values[0][:, :, :width]
    heads, kv_heads = backend.model.config.num_attention_heads, layer_kv[0].shape[1]
    query = torch.randn(ROWS, kv_heads, heads // kv_heads, layer_kv[0].shape[-1])  # transformers packs GQA this way
    mask = torch.ones(ROWS, 1, 1, width, dtype=torch.bool)
    for name, (k, v) in (("a view of the slot cache", layer_kv), ("a contiguous copy", tuple(t.contiguous() for t in layer_kv))):
        for masked in (True, False):
            sdpa(query, k, v, attn_mask=mask if masked else None)
            began = time.perf_counter()
            for _ in range(30):
                sdpa(query, k, v, attn_mask=mask if masked else None)
            print(f"attention of one layer alone, on {name}, {'with' if masked else 'without'} the mask: "
                  f"{1e3 * (time.perf_counter() - began) / 30:.2f} ms")

    config = backend.model.config
    shapes = [(config.hidden_size, config.hidden_size), (config.hidden_size, kv_heads * layer_kv[0].shape[-1]),
              (config.hidden_size, config.intermediate_size), (config.intermediate_size, config.hidden_size),
              (config.hidden_size, config.vocab_size)]
    for n_in, n_out in shapes:
        x, linear = torch.randn(ROWS, n_in), torch.nn.Linear(n_in, n_out, bias=False)
        with torch.inference_mode():
            linear(x)
            began = time.perf_counter()
            for _ in range(50):
                linear(x)
            seconds = (time.perf_counter() - began) / 50
        print(f"linear {n_in} -> {n_out} at {ROWS} rows: {1e3 * seconds:.3f} ms, "
              f"{2 * ROWS * n_in * n_out / seconds / 1e9:.0f} GFLOP/s")

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        time_decode(engine, width, repeats=3)
    print("operators over 4 decoding forwards:")
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))

    if args.compile:
        engine.decoder = torch.compile(engine.decoder, dynamic=True)
        tokens = [[5] for _ in range(ROWS)]
        for i in range(3):
            began = time.perf_counter()
            engine._forward(list(range(ROWS)), tokens, [width - 1 + i] * ROWS, [1] * ROWS)
            print(f"compiled forward {i} (width {width + i}): {time.perf_counter() - began:.1f} s")
        best, median = time_decode(engine, width)
        print(f"compiled decoding forward: best {1e3 * best:.1f} ms, median {1e3 * median:.1f} ms")


if __name__ == "__main__":
    main()
