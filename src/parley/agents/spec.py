"""Agent spec strings, the same in every command.

    smollm2[#persona]                      the embedded SmolLM2-135M-Instruct (GGUF, fp32 on CPU)
    hf:<id-or-path>[#persona]              any Hugging Face checkpoint (a trained run's checkpoint too)
    openai:<model>@<base_url>[#persona]    any OpenAI-compatible server (vLLM, Ollama, ...)
    scripted:<strategy>                    boulware | linear | conceder | hardliner | tit-for-tat
    human                                  a person at the terminal

``#persona`` picks the seller persona prompt: standard (default), hostile, manipulative.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley import ParleyError
from parley.agents.base import Agent, GenerationSettings
from parley.agents.llm import BUYER_PERSONAS, SELLER_PERSONAS, LLMAgent
from parley.agents.scripted import SCRIPTED
from parley.environments.protocol import Role

EXPECTED = ("smollm2, hf:<id-or-path>, openai:<model>@<base_url> (each optionally #standard|#hostile|#manipulative), "
            f"scripted:{{{','.join(SCRIPTED)}}}, human")


@dataclass(frozen=True)
class AgentSpec:
    raw: str
    kind: str  # smollm2 | hf | openai | scripted | human
    target: str = ""
    base_url: str = ""
    persona: str = "standard"

    @property
    def backend_key(self) -> tuple[str, str, str]:
        return (self.kind, self.target, self.base_url)


def _bad(raw: str, why: str) -> ParleyError:
    return ParleyError(f"invalid agent spec {raw!r}: {why}. Expected one of: {EXPECTED}")


def parse_spec(raw: str) -> AgentSpec:
    text = (raw or "").strip()
    if not text:
        raise _bad(raw, "it is empty")
    body, _, persona = text.partition("#")
    persona = persona or "standard"
    kind, sep, rest = body.partition(":")
    if not sep:
        if body in ("smollm2", "human"):
            spec = AgentSpec(text, body, persona=persona)
        else:
            raise _bad(raw, f"unknown agent {body!r}")
    elif kind == "hf":
        if not rest:
            raise _bad(raw, "hf: needs a model id or a path")
        spec = AgentSpec(text, "hf", rest, persona=persona)
    elif kind == "openai":
        model, at, url = rest.partition("@")
        if not model or not at or not url.startswith(("http://", "https://")):
            raise _bad(raw, "openai: needs <model>@<base_url>, e.g. openai:Qwen2.5-7B-Instruct@http://localhost:8000/v1")
        spec = AgentSpec(text, "openai", model, url, persona=persona)
    elif kind == "scripted":
        if rest not in SCRIPTED:
            raise _bad(raw, f"unknown scripted strategy {rest!r}")
        spec = AgentSpec(text, "scripted", rest, persona=persona)
    else:
        raise _bad(raw, f"unknown agent kind {kind!r}")
    if spec.kind in ("scripted", "human") and "#" in text:
        raise _bad(raw, f"{spec.kind} agents take no persona")
    if persona not in SELLER_PERSONAS:
        raise _bad(raw, f"unknown persona {persona!r}")
    return spec


class BackendCache:
    """Loads each model once, so a buyer and a seller on the same model share its weights."""

    def __init__(self) -> None:
        self._backends: dict = {}

    def get(self, spec: AgentSpec):
        if spec.backend_key not in self._backends:
            self._backends[spec.backend_key] = _load_backend(spec)
        return self._backends[spec.backend_key]


def _load_backend(spec: AgentSpec):
    from parley.agents.backends import HFBackend, OpenAIBackend

    if spec.kind == "openai":
        return OpenAIBackend(spec.target, spec.base_url)
    from parley.agents.models import load_causal_lm, load_smollm2

    model, tokenizer = load_smollm2() if spec.kind == "smollm2" else load_causal_lm(spec.target)
    return HFBackend(model, tokenizer, name=spec.kind if spec.kind == "smollm2" else f"hf:{spec.target}")


def build_agent(raw: str | AgentSpec, role: Role, settings: GenerationSettings | None = None,
                cache: BackendCache | None = None) -> Agent:
    spec = raw if isinstance(raw, AgentSpec) else parse_spec(raw)
    if spec.kind == "scripted":
        return SCRIPTED[spec.target]()
    if spec.kind == "human":
        from parley.agents.human import HumanAgent

        return HumanAgent()
    if role is Role.BUYER and spec.persona not in BUYER_PERSONAS:
        raise ParleyError(f"persona {spec.persona!r} is for sellers; a buyer takes {', '.join(BUYER_PERSONAS)}")
    backend = (cache or BackendCache()).get(spec)
    return LLMAgent(name=spec.raw, backend=backend, role=role, persona=spec.persona, settings=settings or GenerationSettings())
