"""Where the continuous engine's time goes: prefill vs decode forwards, the attention inside each, and sampling.

    python benchmarks/rollout_profile.py [SLOTS=32] [MAX_TURNS=10] [BUYER=smollm2]   (smollm2#standard.v2: buyer.v2)

The workload of benchmarks/rollout.py (the embedded SmolLM2 buyer against scripted Boulware on test-split products,
48 new tokens a turn, temperature 0.7, top-p 0.9, seed 0), played once by the continuous engine after a warm-up.
Each of the engine's forwards is timed as prefill (some row feeds more than one token) or decode, and the sdpa
attention call inside it is timed apart, by wrapping the engine's and transformers' functions in this process only:
a profiler's per-op overhead would distort a run of ~300 small forwards; wall-clock wrappers do not.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import torch
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

import parley.models.continuous as engine
from parley.agents import BackendCache, GenerationSettings, build_agent
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios
from parley.rollout import run_bargains

seconds: dict[str, float] = defaultdict(float)
forwards: dict[str, int] = defaultdict(int)
tokens_fed: dict[str, int] = defaultdict(int)
shapes: dict[str, list[tuple[int, int, float]]] = defaultdict(list)  # (rows, attended width, mean own length)
current = ["none"]


def _wrap() -> None:
    forward, sdpa, sample = engine.SlotEngine._forward, ALL_ATTENTION_FUNCTIONS["sdpa"], engine._next_tokens

    def timed_forward(self, rows, tokens, starts, lengths):
        phase = current[0] = "decode" if max(len(t) for t in tokens) == 1 else "prefill"
        began = time.perf_counter()
        out = forward(self, rows, tokens, starts, lengths)
        seconds[phase] += time.perf_counter() - began
        forwards[phase] += 1
        tokens_fed[phase] += sum(len(t) for t in tokens)
        ends = [s + len(t) for s, t in zip(starts, tokens)]
        shapes[phase].append((len(rows), max(ends), sum(ends) / len(ends)))
        return out

    def timed_sdpa(*args, **kwargs):
        began = time.perf_counter()
        out = sdpa(*args, **kwargs)
        seconds[current[0] + " attention"] += time.perf_counter() - began
        return out

    def timed_sample(*args, **kwargs):
        began = time.perf_counter()
        out = sample(*args, **kwargs)
        seconds["sampling"] += time.perf_counter() - began
        return out

    engine.SlotEngine._forward = timed_forward
    ALL_ATTENTION_FUNCTIONS["sdpa"] = timed_sdpa
    engine._next_tokens = timed_sample


def main() -> None:
    slots = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    turns = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    _wrap()
    settings = GenerationSettings(max_new_tokens=48, temperature=0.7, top_p=0.9, batch_size=slots)
    buyer = build_agent(sys.argv[3] if len(sys.argv) > 3 else "smollm2", Role.BUYER, settings, BackendCache())
    seller = build_agent("scripted:boulware", Role.SELLER)
    protocol = ProtocolConfig(max_turns=turns)
    run_bargains(sample_scenarios("test", 2, seed=99), buyer, seller, protocol, seed=0, batch_size=2, engine="continuous")
    for table in (seconds, forwards, tokens_fed, shapes):  # forget the warm-up
        table.clear()
    began = time.perf_counter()
    run_bargains(sample_scenarios("test", slots, seed=0), buyer, seller, protocol, seed=0, batch_size=slots,
                 engine="continuous")
    total = time.perf_counter() - began
    print(f"threads {torch.get_num_threads()}, {slots} slots, {turns} turns: total {total:.1f} s")
    for phase in ("prefill", "decode"):
        rows = shapes[phase]
        print(f"{phase}: {forwards[phase]} forwards, {tokens_fed[phase]} tokens, {seconds[phase]:.1f} s, of which attention "
              f"{seconds[phase + ' attention']:.1f} s; mean rows {sum(r for r, _, _ in rows) / len(rows):.1f}, "
              f"mean width {sum(w for _, w, _ in rows) / len(rows):.0f}, "
              f"mean own length {sum(m for _, _, m in rows) / len(rows):.0f}")
    rest = total - seconds["prefill"] - seconds["decode"] - seconds["sampling"]
    print(f"sampling {seconds['sampling']:.1f} s; outside forwards and sampling {rest:.1f} s")


if __name__ == "__main__":
    main()
