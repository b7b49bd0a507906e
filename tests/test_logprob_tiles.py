"""TRL's chunked log-prob function in smaller token tiles on the CPU (training/logprob_tiles.py): the same
log-probs and gradients, TRL's setting put back afterwards, and `parley train` scoring inside the narrower tiles."""

from __future__ import annotations

import pytest
import torch

ck = pytest.importorskip("trl.kernels.chunked_logprob")

from parley.training.logprob_tiles import CPU_TOKEN_TILE, cpu_token_tiles  # noqa: E402
from training_helpers import tiny_overrides  # noqa: E402


def _score(n_tokens: int):
    torch.manual_seed(0)
    hidden = torch.randn(n_tokens, 32, requires_grad=True)
    weight = (torch.randn(5000, 32) * 0.3).requires_grad_()
    targets = torch.randint(0, 5000, (n_tokens,))
    logps, entropy = ck.ChunkedLogProbFunction.apply(hidden, weight, None, targets, 0.7, 2048, None, 1.0,
                                                     ("log_probs", "entropy"))[:2]
    (logps.sum() + 0.1 * entropy.sum()).backward()
    return logps.detach(), entropy.detach(), hidden.grad, weight.grad


def test_smaller_token_tiles_give_the_same_log_probs_and_gradients():
    default = ck.TOKEN_CHUNK_SIZE
    assert default > CPU_TOKEN_TILE  # otherwise the context has nothing to do and this test nothing to check
    n = CPU_TOKEN_TILE * 2 + 300  # three tiles inside, one outside
    wide = _score(n)
    with cpu_token_tiles(torch.device("cpu")):
        assert ck.TOKEN_CHUNK_SIZE == CPU_TOKEN_TILE
        narrow = _score(n)
    assert ck.TOKEN_CHUNK_SIZE == default
    for a, b in zip(wide, narrow):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)  # the weight gradient sums tiles in another order


def test_the_tiles_are_put_back_after_an_error_and_left_alone_off_the_cpu():
    import importlib

    default = ck.TOKEN_CHUNK_SIZE
    with pytest.raises(RuntimeError):
        with cpu_token_tiles(torch.device("cpu")):
            try:  # TRL's chunked divergence (the KL term's head) has its own tile, narrowed alike
                assert importlib.import_module("trl.kernels.chunked_divergence").TOKEN_CHUNK_SIZE == CPU_TOKEN_TILE
            except ImportError:
                pass
            raise RuntimeError("a step failed")
    assert ck.TOKEN_CHUNK_SIZE == default
    with cpu_token_tiles(torch.device("meta")):  # any accelerator: TRL's Triton kernels make no such temporaries
        assert ck.TOKEN_CHUNK_SIZE == default


def test_parley_train_scores_in_the_narrower_tiles(tiny_model_dir, tmp_path, monkeypatch):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    seen: list[int] = []
    forward = ck.ChunkedLogProbFunction.forward

    def spy(ctx, *args, **kwargs):
        seen.append(ck.TOKEN_CHUNK_SIZE)
        return forward(ctx, *args, **kwargs)

    monkeypatch.setattr(ck.ChunkedLogProbFunction, "forward", staticmethod(spy))
    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "run", "grpo.max_steps=1",
                                                       "warm_start.enabled=false"), None)
    train(cfg, run_dir)
    assert seen and set(seen) == {CPU_TOKEN_TILE}
    assert ck.TOKEN_CHUNK_SIZE > CPU_TOKEN_TILE


def test_the_benchmark_prints_the_same_numbers_for_every_tile():
    import re
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "benchmarks/logprob_tiles.py", "--tokens", "300", "--hidden", "16",
                          "--vocab", "3000", "--tiles", "256", "64"], capture_output=True, text=True, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("tile")]
    assert len(rows) == 2
    sums = {re.search(r"sum of log-probs (\S+), sum \|grad\| (\S+)", row).groups() for row in rows}
    assert len(sums) == 1, rows  # the tile changes how many rows run at once, not what any row computes
