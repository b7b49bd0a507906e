"""GRPO's log-prob passes with each group's shared prompt computed once, not once per rollout.

A GRPO group is ``num_generations`` rollouts of one scenario, so its rows start with the same prompt: in the
shipped bargaining config about 500 of an episode's ~650 tokens are the buyer's system prompt, repeated 8
times in every forward and backward pass of the policy update. Here the rows of a batch are grouped by their
prompt (the part before ``logits_to_keep``); each group's prompt, all but its last token, runs through the
model once (with gradients when the pass has them), its keys and values are repeated for the group's rows,
and the rest of each row runs on top of them. The log-probs are those of the plain pass, and the gradient
reaching the prompt's weights is the sum over the rows that read it, which is exactly the gradient of the
plain pass (``tests/test_shared_prefix.py`` checks both on a tiny model).

TRL has no such option (its ``GRPOTrainer`` computes every row in full), so this overrides its
``_get_per_token_logps_and_entropies``: a private method, so the override checks what it is given and hands
anything it does not handle (vision inputs, MoE aux losses, no group to share, a short prompt) to TRL's own
code unchanged.

The loss pass also scores only the positions that carry loss. In a dialogue most completion tokens are the
environment's (the seller's messages, status lines), which ``env_mask`` takes out of the loss; TRL's fused LM
head still projects every position through the 49k-word head and its log-softmax, because it keeps only the
scored rows on Triton devices (on other devices a changing row count would recompile kernels; on the CPU it
would not). Here the loss pass labels the unscored positions ``-100`` and has TRL's head keep only the scored
rows, on any device. Their log-probs (and entropies) come back 0, which nothing reads: TRL multiplies every
per-token term by the same loss mask.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
import trl.trainer.utils as trl_utils
from trl import GRPOTrainer

from parley.models.compat import cache_of, with_cache
from parley.training.logprob_tiles import cpu_token_tiles

_EAGER_DEVICES = ("cpu", "cuda", "xpu", "mps")  # where scoring only the labelled rows costs no recompilation
MIN_SHARED_TOKENS = 16  # below this the extra forward costs more than it saves
# What the override relies on in TRL's method; another TRL that changes it gets TRL's own pass, with a warning.
_EXPECTED = ("self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
             "compute_aux_loss")


def compatible() -> bool:
    """Whether this TRL's log-prob pass has the shape the override was written (and tested) against."""
    import inspect

    names = tuple(inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters)
    return names[:len(_EXPECTED)] == _EXPECTED


def can_compact_head() -> bool:
    """Whether this TRL's fused LM head decides to keep only the scored rows through ``_use_triton`` (TRL 1.x)."""
    return callable(getattr(trl_utils, "_use_triton", None))


@contextlib.contextmanager
def _scored_rows_only():
    # TRL's fused head keeps only the labelled rows when ``trl.trainer.utils._use_triton`` says so, and reads
    # that module global at call time; its kernel choice reads its own module's copy, which stays as it is.
    # Compiled backends (Neuron, XLA) keep TRL's choice: for them a changing row count means a recompile.
    original = trl_utils._use_triton
    trl_utils._use_triton = lambda device: device.type in _EAGER_DEVICES or original(device)
    try:
        yield
    finally:
        trl_utils._use_triton = original


class SharedPrefixGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose log-prob passes compute each group's prompt once (see the module docstring)."""

    share_prompt_prefix: bool = True
    score_loss_tokens_only: bool = True
    _loss_mask: torch.Tensor | None = None  # the loss pass's (completion x env) mask, while that pass runs

    def __init__(self, *args, share_prompt_prefix: bool = True, score_loss_tokens_only: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.share_prompt_prefix = share_prompt_prefix and compatible()
        if share_prompt_prefix and not self.share_prompt_prefix:
            warnings.warn("this TRL's _get_per_token_logps_and_entropies differs from the one Parley's shared-prompt "
                          "pass was written for: training uses TRL's own pass (correct, slower)", stacklevel=2)
        self.score_loss_tokens_only = score_loss_tokens_only and can_compact_head()

    def train(self, *args, **kwargs):
        # Here rather than at each caller, so `parley train` and benchmarks/train_throughput.py score alike.
        with cpu_token_tiles(self.model.device):
            return super().train(*args, **kwargs)

    def _compute_loss(self, model, inputs):
        # The one pass whose log-probs only ever meet the loss mask (the old and reference passes, when they run,
        # score every completion token as TRL does).
        mask = inputs["completion_mask"]
        self._loss_mask = mask * inputs["tool_mask"] if "tool_mask" in inputs else mask
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._loss_mask = None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **extra):
        plain = (not self.share_prompt_prefix or compute_aux_loss or any(v is not None for v in extra.values())
                 or input_ids.dim() != 2)
        prefix = input_ids.size(1) - logits_to_keep - 1  # the last prompt token's hidden state scores the first completion token
        groups = {} if plain or prefix < MIN_SHARED_TOKENS else _groups(input_ids, attention_mask, logits_to_keep)
        scored = self._loss_mask if self.score_loss_tokens_only else None
        if scored is not None and tuple(scored.shape) != (input_ids.size(0), logits_to_keep):
            scored = None
        if not groups or all(len(rows) == 1 for rows in groups):
            if scored is not None and not plain:
                # No prompt to share (deliberation's loss passes land here), but the loss pass still needs only
                # its own tokens through the head.
                return self._scored_pass(model, input_ids, attention_mask, logits_to_keep, scored,
                                         batch_size or input_ids.size(0), compute_entropy)
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size, compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss, **extra)
        logps = input_ids.new_zeros(input_ids.size(0), logits_to_keep, dtype=torch.float32)
        entropies = logps.clone() if compute_entropy else None
        for rows in groups:
            index = torch.tensor(rows, device=input_ids.device)
            out = self._group_pass(model, input_ids[index], attention_mask[index], logits_to_keep, prefix,
                                   None if scored is None else scored[index])
            if out is None:  # the model kept no cache (gradient checkpointing turns it off): the plain pass
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                    compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra)
            logps = logps.index_copy(0, index, out.log_probs[:, -logits_to_keep - 1:-1].to(logps.dtype))
            if compute_entropy:
                entropies = entropies.index_copy(0, index, out.entropy[:, -logits_to_keep - 1:-1].to(logps.dtype))
        return logps, entropies, None

    def _scored_pass(self, model, input_ids, attention_mask, logits_to_keep: int, scored, batch_size: int,
                     compute_entropy: bool):
        """TRL's plain pass (rows in chunks of ``batch_size``, labels as TRL sets them) with the unscored completion
        positions labelled -100 too, so that only the loss's own tokens go through the LM head."""
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            rows = slice(start, start + batch_size)
            labels = _labels(input_ids[rows], attention_mask[rows], logits_to_keep, scored[rows])
            with self.accelerator.autocast(), _scored_rows_only():
                out = model(input_ids=input_ids[rows], attention_mask=attention_mask[rows], labels=labels,
                            fused_lm_head=True)
            logps.append(out.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                entropies.append(out.entropy[:, -logits_to_keep:])
        return torch.cat(logps), torch.cat(entropies) if compute_entropy else None, None

    def _group_pass(self, model, input_ids, attention_mask, logits_to_keep: int, prefix: int, scored=None):
        # The prompt once, keeping its keys and values (logits only for one position: they are not used).
        with self.accelerator.autocast():
            head = model(input_ids=input_ids[:1, :prefix], attention_mask=attention_mask[:1, :prefix], use_cache=True,
                         logits_to_keep=1)
        cache = cache_of(head)
        if cache is None:
            return None
        cache.batch_repeat_interleave(input_ids.size(0))
        # The rest, labelled as TRL labels the plain pass, pre-shifted: position t is scored on token t + 1.
        labels = _labels(input_ids, attention_mask, logits_to_keep, scored)
        shift_labels = torch.cat([labels[:, prefix + 1:], labels.new_full((labels.size(0), 1), -100)], dim=1)
        compact = _scored_rows_only() if scored is not None else contextlib.nullcontext()
        with self.accelerator.autocast(), compact:
            return model(input_ids=input_ids[:, prefix:], attention_mask=attention_mask, **with_cache(cache),
                         shift_labels=shift_labels, fused_lm_head=True)


def _labels(input_ids, attention_mask, logits_to_keep: int, scored=None):
    """Labels as TRL's plain pass sets them (padding and the prompt -100), and, given the loss mask ``scored``,
    the completion positions outside it -100 too: only the loss's own positions then go through the LM head."""
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :-logits_to_keep] = -100
    if scored is not None:
        labels[:, -logits_to_keep:] = labels[:, -logits_to_keep:].masked_fill(scored == 0, -100)
    return labels


def _groups(input_ids, attention_mask, logits_to_keep: int) -> list[list[int]]:
    """Row indices grouped by identical prompt (tokens and mask before the scored part)."""
    cut = input_ids.size(1) - logits_to_keep
    seen: dict[bytes, list[int]] = {}
    for i in range(input_ids.size(0)):
        key = input_ids[i, :cut].cpu().numpy().tobytes() + attention_mask[i, :cut].cpu().numpy().tobytes()
        seen.setdefault(key, []).append(i)
    return list(seen.values())
