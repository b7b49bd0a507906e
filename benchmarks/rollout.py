"""Rollout throughput: the batched engine vs one-episode-at-a-time generation, on the embedded SmolLM2.

Prints generated tokens/s at batch 1, 8 and 32, the speed-up over the sequential baseline, and the
fraction of this machine's measured fp32 matmul peak that the engine reaches (SmolLM2-135M costs
~0.27 GFLOP per generated token: 2 x 135M parameters).

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


def measure(buyer, scenarios, protocol, batch_size: int, seed: int, engine: str = "lockstep") -> tuple[float, int, int, float]:
    """(generated tok/s, generated tokens, prompt tokens run through the model, seconds)."""
    stats = buyer.backend.stats
    tokens0, prompt0, began = stats.new_tokens, stats.prompt_tokens, time.perf_counter()
    run_bargains(scenarios, buyer, build_agent("scripted:boulware", Role.SELLER), protocol, seed=seed, batch_size=batch_size,
                 engine=engine)
    seconds = time.perf_counter() - began
    tokens, prompt = stats.new_tokens - tokens0, stats.prompt_tokens - prompt0
    return tokens / seconds, tokens, prompt, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--sequential-episodes", type=int, default=8, help="episodes timed one at a time")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", nargs="+", default=["lockstep", "continuous"], choices=["lockstep", "continuous"],
                        help="lockstep: one batched generate per side per tick; continuous: slots refilled mid-turn")
    parser.add_argument("--episodes-per-slot", type=int, default=1,
                        help="episodes played per batch slot (2: a finished episode's slot takes a waiting one)")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    peak = matmul_peak_gflops()
    print(f"fp32 matmul peak (2048^2, best of 10): {peak:.1f} GFLOP/s")
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.7, top_p=0.9, batch_size=max(args.batches))
    buyer = build_agent("smollm2", Role.BUYER, settings, BackendCache())
    protocol = ProtocolConfig(max_turns=args.max_turns)
    measure(buyer, sample_scenarios("test", 2, seed=99), protocol, 2, args.seed)  # warm-up

    scenarios = sample_scenarios("test", max(max(args.batches) * args.episodes_per_slot, args.sequential_episodes),
                                 seed=args.seed)
    seq_rate, seq_tokens, _, seq_s = measure(buyer, scenarios[:args.sequential_episodes], protocol, 1, args.seed)
    print(f"sequential baseline: {args.sequential_episodes} episodes one at a time: {seq_tokens} tokens in {seq_s:.1f} s "
          f"= {seq_rate:.1f} tok/s")
    print()
    print("| engine | batch | episodes | new tokens | prompt tokens run | seconds | generated tok/s | speed-up vs sequential "
          "| % of fp32 peak (generated) | % of fp32 peak (prompt + generated) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in args.batches:
        for engine in args.engines:
            episodes = batch * args.episodes_per_slot
            rate, tokens, prompt, seconds = measure(buyer, scenarios[:episodes], protocol, batch, args.seed, engine)
            print(f"| {engine} | {batch} | {episodes} | {tokens} | {prompt} | {seconds:.1f} | {rate:.1f} | "
                  f"{rate / seq_rate:.2f}x | {100 * rate * GFLOP_PER_TOKEN / peak:.1f}% | "
                  f"{100 * (tokens + prompt) / seconds * GFLOP_PER_TOKEN / peak:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
