"""What the warm start and GRPO both set up the same way: precision, LoRA, generation settings, progress bars.

Its own module so that the trainer (which runs the warm start) and the warm start import it, not each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley import ParleyError
from parley.models.generation import GenerationSettings

if TYPE_CHECKING:  # only for annotations: the config (through the game registry) reaches the warm start, which uses this
    from parley.training.config import TrainConfig


def precision(cfg: TrainConfig) -> tuple[bool, bool]:
    """(GPU present, train in bf16 mixed precision): grpo.bf16 governs the warm start too."""
    import torch

    cuda = torch.cuda.is_available()
    bf16 = (cuda and torch.cuda.is_bf16_supported()) if cfg.grpo.bf16 == "auto" else cfg.grpo.bf16
    if bf16 and not cuda:
        raise ParleyError("grpo.bf16 needs a GPU (bf16 matmul on this CPU is ~100x slower); set grpo.bf16=auto")
    return cuda, bf16


def lora_config(cfg: TrainConfig):
    """PEFT's LoraConfig from the ``lora`` section, or None for full fine-tuning."""
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")


def rich_progress(trainer) -> None:
    """Show a trainer's progress as a Rich bar with ETA instead of tqdm's."""
    from transformers.trainer_callback import ProgressCallback
    from trl.trainer.callbacks import RichProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RichProgressCallback)


def generation_settings(cfg: TrainConfig) -> GenerationSettings:
    g = cfg.generation
    return GenerationSettings(max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p,
                              top_k=g.top_k, batch_size=g.batch_size)
