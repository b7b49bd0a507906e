"""Rollouts on a plain copy of the policy with its LoRA merged in, refreshed before every rollout.

A LoRA policy generates through PEFT's adapter layers: every targeted linear layer (all of them, in the shipped
configs: 7 per block, 210 in SmolLM2) runs the base matmul, then dropout, A, B and a scaled add, so each decoding
step launches about five times the kernels of the plain model. On the CPU that overhead, not the arithmetic, is
what a batch-8 decoding step waits on (docs/benchmarks.md measures it). Merged weights, ``W + scale * B @ A``,
give the same function in one matmul per layer, which is how TRL hands a LoRA policy to vLLM too.

The policy itself is never touched: its base weights stay frozen and bit-identical (merging in place and
unmerging would round them a little differently at every step). The copy costs one more set of weights in memory
(0.5 GB for SmolLM2 in fp32) and a rebuild before each rollout, a few hundred milliseconds. Anything this does not
handle (no LoRA, DoRA and other LoRA variants, LoRA bias, several active adapters, adapters on embeddings, a
quantised base, a model split across devices) is left to PEFT's layers: ``merged_copy`` returns None and the
caller generates with the policy as before.
"""

from __future__ import annotations

import copy

import torch


def _lora_layers(base) -> dict[str, object] | None:
    """name -> PEFT LoRA Linear for every adapted layer, or None where merging is not exact or not handled."""
    from peft.tuners.lora import Linear, LoraLayer

    layers = {}
    for name, module in base.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        adapters = list(module.active_adapters)
        if type(module) is not Linear or len(adapters) != 1 or module.merged or module.disable_adapters:
            return None
        (adapter,) = adapters
        if module.lora_variant.get(adapter) is not None or module.lora_bias.get(adapter, False):
            return None
        weight = module.get_base_layer().weight
        if type(weight) is not torch.nn.Parameter or not weight.dtype.is_floating_point:
            return None  # a quantised base (bitsandbytes' Params4bit, int8): no plain weight to add the delta to
        layers[name] = module
    return layers


class MergedPolicy:
    """A plain model holding ``base + LoRA`` of a PEFT policy; ``sync()`` rebuilds it from the policy's weights."""

    def __init__(self, policy, layers: dict[str, object]) -> None:
        from parley.models.loading import blank_like

        self.base = policy.get_base_model()
        self.layers = layers
        self.model = blank_like(self.base)  # the dequantised weights are what sync() copies in
        self.model.generation_config = copy.deepcopy(self.base.generation_config)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.sync()

    @torch.no_grad()
    def sync(self) -> None:
        """Copy the policy's weights in, with each LoRA layer's ``scale * B @ A`` added to its base weight."""
        state = {key.replace(".base_layer.", "."): value for key, value in self.base.state_dict().items()
                 if ".lora_" not in key}
        self.model.load_state_dict(state, strict=True)
        for name, module in self.layers.items():
            (adapter,) = module.active_adapters
            weight = self.model.get_submodule(name).weight
            weight.add_(module.get_delta_weight(adapter).to(weight.dtype))


def merged_copy(policy) -> MergedPolicy | None:
    """A ``MergedPolicy`` of a PEFT LoRA policy, or None where the policy is better generated from as it is."""
    from peft import PeftModel

    if not isinstance(policy, PeftModel):
        return None  # full fine-tuning: the policy is already a plain model
    base = policy.get_base_model()
    if len(set((getattr(base, "hf_device_map", None) or {}).values())) > 1:
        return None  # split across devices: one plain copy on one device would not fit the same way
    layers = _lora_layers(base)
    if not layers:
        return None
    return MergedPolicy(policy, layers)
