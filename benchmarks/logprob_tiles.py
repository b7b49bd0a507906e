"""Memory and time of TRL's chunked log-prob function (the GRPO loss pass's LM head) on the CPU, by token tile.

    python benchmarks/logprob_tiles.py                     # SmolLM2's head: 576 hidden, 49,152 words, 6,000 tokens
    python benchmarks/logprob_tiles.py --tokens 9600 --tiles 4096 1024 512

Each tile height runs in a fresh process (peak resident memory is per process): a forward and backward of
``trl.kernels.ChunkedLogProbFunction`` over random hidden states with TRL's vocabulary chunk, printing the peak
resident memory above the inputs, the wall time, and a checksum of the log-probs and gradients, which must not
depend on the tile (training/logprob_tiles.py narrows TRL's 4,096 to 1,024 tokens on the CPU).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _one(tile: int, tokens: int, hidden_size: int, vocab: int, seed: int) -> dict:
    import torch
    import trl.kernels.chunked_logprob as ck
    import trl.trainer.utils as trl_utils

    ck.TOKEN_CHUNK_SIZE = tile
    torch.manual_seed(seed)
    hidden = torch.randn(tokens, hidden_size, requires_grad=True)
    weight = torch.randn(vocab, hidden_size) * 0.02
    targets = torch.randint(0, vocab, (tokens,))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    logps, entropy = ck.ChunkedLogProbFunction.apply(hidden, weight, None, targets, 0.7,
                                                     trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0,
                                                     ("log_probs", "entropy"))[:2]
    (logps.sum() + entropy.sum()).backward()
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"tile": tile, "peak_above_inputs_gb": (peak - before) / 1e6, "seconds": seconds,
            "logp_sum": float(logps.sum()), "grad_abs_sum": float(hidden.grad.abs().sum()),
            "vocab_chunk": trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=6000, help="scored positions in the pass")
    parser.add_argument("--tiles", type=int, nargs="+", default=[4096, 1024, 512], help="token tile heights")
    parser.add_argument("--hidden", type=int, default=576)
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one tile in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.tokens, args.hidden, args.vocab, args.seed)))
        return
    print(f"TRL chunked log-prob, forward + backward, {args.tokens} tokens x {args.vocab} words "
          f"(hidden {args.hidden}), one fresh process per tile")
    for tile in args.tiles:
        out = subprocess.run([sys.executable, __file__, "--one", str(tile), "--tokens", str(args.tokens),
                              "--hidden", str(args.hidden), "--vocab", str(args.vocab), "--seed", str(args.seed)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"tile {r['tile']:>5} tokens x {r['vocab_chunk']} words: peak {r['peak_above_inputs_gb']:.2f} GB above the "
              f"inputs, {r['seconds']:.1f} s; sum of log-probs {r['logp_sum']:.4f}, sum |grad| {r['grad_abs_sum']:.4f}")


if __name__ == "__main__":
    main()
