"""Trained negotiators shipped in the package: LoRA adapters on the embedded SmolLM2, named by spec.

``smollm2:<name>`` loads the embedded model and merges ``parley/data/adapters/<name>/`` into it. Each adapter
folder holds ``adapter_config.json``, fp16 ``adapter_model.safetensors`` and ``provenance.json`` (the run's
config, commit, seed and metrics).

A training run's final model is two low-rank updates on top of each other: the warm start (a LoRA merged
into the weights, saved as a full model) and GRPO's adapter on that. ``export_run`` writes both as one
adapter of the summed rank on the base model: the warm start's delta ``W_ws - W_base`` of every adapted
linear layer is low-rank by construction, so its SVD truncated to the warm start's rank recovers it (the
relative residual is measured and recorded), and the two factor pairs are stacked. PEFT has no "merge two
adapters trained on different bases into one" operation, hence this code.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from parley import ParleyError
from parley.code_version import code_version, recorded_code
from parley.models.loading import BASE_FILE, load_model_spec, plain_copy, shipped_adapters_root
from parley.models.loading import available_adapters as available
from parley.models.loading import shipped_adapter_dir as adapter_dir

__all__ = ["adapter_dir", "available", "combine", "export_run", "load_shipped", "provenance", "shipped_adapters_root",
           "trained_persona"]


def provenance(name: str) -> dict:
    return json.loads((adapter_dir(name) / "provenance.json").read_text())


def trained_persona(name: str) -> str:
    """The prompt persona the shipped adapter was trained under (a guided buyer sees the suggested offer); its
    spec plays it unless it names another (``smollm2:<name>#standard``)."""
    return provenance(name).get("config", {}).get("persona", "standard")


def load_shipped(name: str):
    """(model, tokenizer): the embedded SmolLM2 with the shipped adapter ``name`` merged, in eval mode."""
    adapter_dir(name)  # the error that lists what is shipped
    return load_model_spec(f"smollm2:{name}")


def _linear_names(model, targets) -> list[str]:
    import torch

    return [n for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and (n in targets or n.split(".")[-1] in targets)]


def combine(base, warm, adapter_state: dict, adapter_config: dict, warm_rank: int) -> tuple[dict, dict, float]:
    """One adapter on ``base`` equal to ``warm`` (base + a merged low-rank update) plus a LoRA trained on ``warm``.

    Returns (state dict in PEFT's key names, adapter config, worst relative residual of the warm deltas).
    """
    import torch

    targets = set(adapter_config["target_modules"])
    scale = adapter_config["lora_alpha"] / adapter_config["r"]
    base_params, warm_params = dict(base.named_parameters()), dict(warm.named_parameters())
    names = _linear_names(base, targets)
    adapted = {f"{n}.weight" for n in names}
    for key, value in base_params.items():  # the warm start may change only what the adapter adapts
        if key not in adapted and key in warm_params and not torch.allclose(value, warm_params[key], atol=1e-6):
            raise ParleyError(f"the warm start changed {key}, which a LoRA adapter cannot carry")
    state, worst = {}, 0.0
    rank = adapter_config["r"] + (warm_rank if warm is not base else 0)
    for name in names:
        prefix = f"base_model.model.{name}"
        a_g = adapter_state.get(f"{prefix}.lora_A.weight")
        b_g = adapter_state.get(f"{prefix}.lora_B.weight")
        if a_g is None or b_g is None:
            raise ParleyError(f"the GRPO adapter has no factors for {name}")
        a_parts, b_parts = [a_g.float()], [b_g.float()]
        if warm is not base:
            delta = (warm_params[f"{name}.weight"] - base_params[f"{name}.weight"]).detach().float()
            u, s, vh = torch.linalg.svd(delta, full_matrices=False)
            u, s, vh = u[:, :warm_rank], s[:warm_rank], vh[:warm_rank]
            approx = (u * s) @ vh
            worst = max(worst, float((delta - approx).norm() / delta.norm().clamp(min=1e-12)))
            root = torch.sqrt(s / scale)
            a_parts.append(root[:, None] * vh)
            b_parts.append(u * root[None, :])
        state[f"{prefix}.lora_A.weight"] = torch.cat(a_parts, 0).contiguous()
        state[f"{prefix}.lora_B.weight"] = torch.cat(b_parts, 1).contiguous()
    config = {**adapter_config, "r": rank, "lora_alpha": scale * rank, "base_model_name_or_path": "smollm2 (embedded)",
              "inference_mode": True}
    return state, config, worst


def export_run(run_dir: Path, out: Path, metrics: dict | None = None, base_spec: str | None = None) -> Path:
    """Write ``run_dir``'s final model as one fp16 adapter on its base model into ``out`` (with provenance)."""
    import torch
    import yaml
    from safetensors.torch import load_file, save_file

    run_dir = Path(run_dir)
    final = run_dir / "final"
    if not (final / "adapter_config.json").is_file():
        raise ParleyError(f"{final} holds no LoRA adapter: export needs a LoRA training run (lora.enabled: true)")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    base_spec = base_spec or cfg["model"]
    base, _ = load_model_spec(base_spec, dtype="float32")
    base = plain_copy(base)
    written = json.loads((final / BASE_FILE).read_text()) if (final / BASE_FILE).is_file() else {}
    warm_folder = run_dir / "warm_start"
    if written.get("relative") and (warm_folder / "config.json").is_file():
        warm, _ = load_model_spec(f"hf:{warm_folder.resolve()}", dtype="float32")
        warm_rank = int(cfg["lora"]["r"])
    else:
        warm, warm_rank = base, 0
    adapter_config = json.loads((final / "adapter_config.json").read_text())
    state, config, residual = combine(base, warm, load_file(str(final / "adapter_model.safetensors")), adapter_config,
                                      warm_rank)
    if not math.isfinite(residual) or residual > 1e-2:
        raise ParleyError(f"the warm start's update is not rank {warm_rank} (relative residual {residual:.3g}); "
                          "was it trained with LoRA of that rank?")
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.float16) for k, v in state.items()}, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    size = (out / "adapter_model.safetensors").stat().st_size
    trained = recorded_code(run_dir)
    (out / "provenance.json").write_text(json.dumps({
        "source_run": run_dir.name, "base": base_spec, "config": cfg, "seed": cfg.get("seed"),
        # The commit that trained it (None for runs made before runs recorded it), then the one exporting it.
        "commit": ((trained or {}).get("started") or {}).get("commit"),
        "training_code": trained, "export_code": code_version(),
        "rank": config["r"], "warm_start_rank": warm_rank, "warm_start_svd_relative_residual": residual,
        "dtype": "float16", "bytes": size, "metrics": metrics or {},
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=2, default=str))
    return out
