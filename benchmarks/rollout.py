"""Rollout throughput: the batched engine vs one-episode-at-a-time generation, on the embedded SmolLM2.

Prints generated tokens/s at batch 1, 8 and 32, the speed-up over the sequential baseline, and the
fraction of this machine's measured fp32 matmul peak that the engine reaches (SmolLM2-135M costs
~0.27 GFLOP per generated token: 2 x 135M parameters), and the same against the memory-bandwidth bound:
decoding one token per row reads every weight once per forward and the K/V of every position attention
looks at, per row. The engines count both (``GenerationStats.forwards`` and ``kv_reads``); this script
measures the machine's read bandwidth and prints the time those bytes need at that rate, as a share of the
time the engine took (100% = bandwidth-bound, nothing left to win without reading less).

    python benchmarks/rollout.py [--batches 1 8 32] [--max-new-tokens 48] [--max-turns 10]
                                 [--engines lockstep continuous] [--episodes-per-slot 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from parley.agents import BackendCache, GenerationSettings, build_agent
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios
from parley.models.continuous import kv_geometry
from parley.rollout import run_bargains

GFLOP_PER_TOKEN = 0.27


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def read_bandwidth_gbs(gib: float = 1.0, repeats: int = 5) -> float:
    """Best-of-``repeats`` read bandwidth of a reduction over a ``gib`` GiB fp32 tensor (larger than any cache)."""
    a = torch.ones(int(gib * 2**30) // 4)
    a.sum()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return a.numel() * 4 / best / 1e9


def model_bytes(model) -> tuple[int, int]:
    """(bytes of all weights, bytes of K/V per position over all layers) of a decoder in its dtype."""
    layers, kv_heads, head_dim = kv_geometry(model)
    size = model.dtype.itemsize
    weights = sum(p.numel() for p in model.parameters()) * size  # tied embeddings counted once, as they are read
    return weights, 2 * layers * kv_heads * head_dim * size


def measure(buyer, scenarios, protocol, batch_size: int, seed: int, engine: str = "lockstep") -> tuple[float, int, int, float, int, int]:
    """(generated tok/s, generated tokens, prompt tokens run through the model, seconds, forwards, K/V positions read)."""
    stats = buyer.backend.stats
    tokens0, prompt0, began = stats.new_tokens, stats.prompt_tokens, time.perf_counter()
    forwards0, kv0 = stats.forwards, stats.kv_reads
    run_bargains(scenarios, buyer, build_agent("scripted:boulware", Role.SELLER), protocol, seed=seed, batch_size=batch_size,
                 engine=engine)
    seconds = time.perf_counter() - began
    tokens, prompt = stats.new_tokens - tokens0, stats.prompt_tokens - prompt0
    return tokens / seconds, tokens, prompt, seconds, stats.forwards - forwards0, stats.kv_reads - kv0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--sequential-episodes", type=int, default=8, help="episodes timed one at a time")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", nargs="+", default=["lockstep", "continuous"], choices=["lockstep", "continuous"],
                        help="lockstep: one batched generate per side per tick; continuous: slots refilled mid-turn")
    parser.add_argument("--buyer", default="smollm2",
                        help="the LLM buyer's spec (smollm2#standard.v2: the compact prompt, buyer.v2)")
    parser.add_argument("--episodes-per-slot", type=int, default=1,
                        help="episodes played per batch slot (2: a finished episode's slot takes a waiting one)")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    peak = matmul_peak_gflops()
    print(f"fp32 matmul peak (2048^2, best of 10): {peak:.1f} GFLOP/s")
    bandwidth = read_bandwidth_gbs()
    print(f"memory read bandwidth (sum over 1 GiB, best of 5): {bandwidth:.1f} GB/s")
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.7, top_p=0.9, batch_size=max(args.batches))
    buyer = build_agent(args.buyer, Role.BUYER, settings, BackendCache())
    print(f"buyer {args.buyer} (prompt {buyer.prompt_id}) vs scripted:boulware")
    weight_bytes, kv_bytes = model_bytes(buyer.backend.model)
    print(f"weights {weight_bytes / 1e6:.0f} MB read per forward; K/V {kv_bytes / 1e3:.1f} kB per position read per row")
    protocol = ProtocolConfig(max_turns=args.max_turns)
    measure(buyer, sample_scenarios("test", 2, seed=99), protocol, 2, args.seed)  # warm-up

    scenarios = sample_scenarios("test", max(max(args.batches) * args.episodes_per_slot, args.sequential_episodes),
                                 seed=args.seed)
    seq_rate, seq_tokens, _, seq_s, *_ = measure(buyer, scenarios[:args.sequential_episodes], protocol, 1, args.seed)
    print(f"sequential baseline: {args.sequential_episodes} episodes one at a time: {seq_tokens} tokens in {seq_s:.1f} s "
          f"= {seq_rate:.1f} tok/s")
    print()
    print("| engine | batch | episodes | new tokens | prompt tokens run | seconds | generated tok/s | speed-up vs sequential "
          "| % of fp32 peak (generated) | % of fp32 peak (prompt + generated) | forwards | GB read "
          "| % of bandwidth bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in args.batches:
        for engine in args.engines:
            episodes = batch * args.episodes_per_slot
            rate, tokens, prompt, seconds, forwards, kv_reads = measure(buyer, scenarios[:episodes], protocol, batch,
                                                                        args.seed, engine)
            read = forwards * weight_bytes + kv_reads * kv_bytes
            print(f"| {engine} | {batch} | {episodes} | {tokens} | {prompt} | {seconds:.1f} | {rate:.1f} | "
                  f"{rate / seq_rate:.2f}x | {100 * rate * GFLOP_PER_TOKEN / peak:.1f}% | "
                  f"{100 * (tokens + prompt) / seconds * GFLOP_PER_TOKEN / peak:.1f}% | {forwards} | {read / 1e9:.1f} | "
                  f"{100 * read / bandwidth / 1e9 / seconds:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
