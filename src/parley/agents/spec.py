"""Agent spec strings, the same in every command.

    smollm2[#persona[.vN]]                 the embedded SmolLM2-135M-Instruct (GGUF, fp32 on CPU)
    smollm2:<name>[#persona]               the embedded model with a shipped trained adapter (e.g. smollm2:buyer)
    hf:<id-or-path>[#persona]              any Hugging Face checkpoint (a trained run's checkpoint too)
    openai:<model>@<base_url>[#persona]    any OpenAI-compatible server (vLLM, Ollama, ...)
    scripted:<strategy>                    boulware | linear | conceder | hardliner | tit-for-tat | relative-tit-for-tat
                                           | final-offer | splitter | menu (buyer) | prober (seller)
                                           (deliberation: deliberator | stance; CaSiNo: logroller | greedy | fair)
    human                                  a person at the terminal

``#persona`` picks the seller persona prompt: standard (default), hostile, manipulative, prober; a buyer takes
standard, guided (its status line also suggests the split-the-difference offer, agents/bargainer.py) or menu (it
lists the moves the buyer may copy: hold, split the difference, accept an affordable offer).
``#persona.v<N>`` also picks the prompt's version (``smollm2#guided.v2``: the compact buyer prompt); without it an
agent plays agents/bargainer.py's ``DEFAULT_PROMPT_VERSIONS``. A shipped adapter, or an ``hf:`` folder that
`parley train` saved (a run's final model, checkpoint or warm start), plays the persona and version it trained under
unless the spec names one.

A deliberation agent takes only its prompt version: ``smollm2#standard.v2`` reads deliberator.v2 (v1 is the default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parley import ParleyError
from parley.agents.base import Agent
from parley.agents.camper import SCRIPTED_CAMPERS as SCRIPTED_CAMPER_FACTORIES, CamperLLMAgent
from parley.agents.deliberator import SCRIPTED_DELIBERATORS as SCRIPTED_DELIBERATION, DeliberationLLMAgent
from parley.agents.seated import seated_prompt_version
from parley.models.generation import GenerationSettings
from parley.agents.bargainer import BUYER_PERSONAS, SELLER_PERSONAS, BargainLLMAgent, check_persona_for, split_persona
from parley.agents.bargainer import ONLY_PLAYS, SCRIPTED
from parley.environments.bargain import Role

EXPECTED = ("smollm2, hf:<id-or-path>, openai:<model>@<base_url> (each optionally a seller's #standard|#hostile|"
            "#manipulative|#prober or a buyer's #guided|#menu, optionally with a prompt version: #guided.v2), "
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


# What a spec may name where: every check of "which kinds are allowed here" goes through ``parse_spec``.
LLM = ("smollm2", "hf", "openai")          # a language model on any backend
LOCAL = ("smollm2", "hf")                  # a model whose weights are here (trainable)
UNATTENDED = ("smollm2", "hf", "openai", "scripted")  # anything that runs without a person
_KIND_NAMES = {"smollm2": "smollm2", "hf": "hf:<id-or-path>", "openai": "openai:<model>@<base_url>",
               "scripted": "scripted:<strategy>", "human": "human"}


def parse_spec(raw: str, allow: tuple[str, ...] | None = None, what: str = "agent", personas: bool = True,
               extra: tuple[str, ...] = (), hint: str = "") -> AgentSpec | None:
    """The parsed spec, or a ParleyError naming what is wrong and what ``what`` may be.

    ``allow``: the kinds accepted here (default: all); ``personas``: whether ``#persona`` may be given;
    ``extra``: other names accepted as they are (e.g. the scripted deliberators), for which None is returned;
    ``hint``: what to do instead, added to the error when a kind is refused.
    """
    if raw in extra:
        return None
    names = [_KIND_NAMES[k] for k in (allow or _KIND_NAMES)] + list(extra)
    expected = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    try:
        spec = _parse(raw)
    except ParleyError as exc:
        if what == "agent":
            raise
        why = str(exc).split(": ", 1)[1].split(". Expected", 1)[0]
        raise ParleyError(f"invalid {what} {raw!r}: {why}; the {what} must be {expected}") from None
    if allow is not None and spec.kind not in allow:
        raise ParleyError(f"invalid {what} {raw!r}: the {what} must be {expected}, not {spec.kind}"
                          + (f"; {hint}" if hint else ""))
    if not personas and "#" in raw:
        raise ParleyError(f"invalid {what} {raw!r}: it takes no #persona")
    return spec


def _parse(raw: str) -> AgentSpec:
    text = (raw or "").strip()
    if not text:
        raise _bad(raw, "it is empty")
    body, _, named = text.partition("#")
    persona = named or "standard"
    kind, sep, rest = body.partition(":")
    if kind == "smollm2" and sep:
        from parley.models.shipped import adapter_dir, trained_persona

        if not rest:
            raise _bad(raw, "smollm2: needs a shipped adapter's name, e.g. smollm2:buyer")
        try:
            adapter_dir(rest)
        except ParleyError as exc:
            raise _bad(raw, str(exc)) from None
        persona = named or trained_persona(rest)  # the persona it was trained under, unless the spec names one
        spec = AgentSpec(text, "smollm2", rest, persona=persona)
    elif not sep:
        if body in ("smollm2", "human"):
            spec = AgentSpec(text, body, persona=persona)
        else:
            raise _bad(raw, f"unknown agent {body!r}")
    elif kind == "hf":
        if not rest:
            raise _bad(raw, "hf: needs a model id or a path")
        if not named:  # a model `parley train` saved plays the persona it trained under, as a shipped adapter does
            from parley.models.loading import recorded_persona

            persona = recorded_persona(rest) or persona
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
    try:
        name, _ = split_persona(persona)
    except ParleyError as exc:
        raise _bad(raw, str(exc)) from None
    if name not in SELLER_PERSONAS + BUYER_PERSONAS:
        raise _bad(raw, f"unknown persona {name!r}")
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
    from parley.models.backends import HFBackend, OpenAIBackend

    if spec.kind == "openai":
        return OpenAIBackend(spec.target, spec.base_url)
    from parley.models.loading import load_causal_lm, load_smollm2

    if spec.kind == "smollm2" and spec.target:
        from parley.models.shipped import load_shipped

        model, tokenizer = load_shipped(spec.target)
        return HFBackend(model, tokenizer, name=f"smollm2:{spec.target}")
    model, tokenizer = load_smollm2() if spec.kind == "smollm2" else load_causal_lm(spec.target)
    return HFBackend(model, tokenizer, name=spec.kind if spec.kind == "smollm2" else f"hf:{spec.target}")


def check_persona(spec: AgentSpec, role: Role) -> None:
    """A ParleyError when ``spec``'s persona is for the other role (``smollm2#hostile`` as a buyer) or names a prompt
    version that does not exist (``smollm2#hostile.v9``); one the spec did not name is the persona its model
    trained under, and the error says so."""
    try:
        check_persona_for(role, spec.persona)
    except ParleyError as exc:
        if "#" in spec.raw:
            raise
        raise ParleyError(f"{spec.raw} plays the persona it was trained under, {spec.persona!r}, unless its spec names "
                          f"another, and {exc}; name one, e.g. {spec.raw}#standard") from None


def build_agent(raw: str | AgentSpec, role: Role, settings: GenerationSettings | None = None,
                cache: BackendCache | None = None) -> Agent:
    spec = raw if isinstance(raw, AgentSpec) else parse_spec(raw)
    if spec.kind == "scripted":
        only = ONLY_PLAYS.get(spec.target, role)
        if only is not role:
            raise ParleyError(f"scripted:{spec.target} only plays the {only.value}; as the {role.value}, pick one of "
                              + ", ".join(f"scripted:{k}" for k in SCRIPTED if ONLY_PLAYS.get(k, role) is role))
        return SCRIPTED[spec.target]()
    if spec.kind == "human":
        from parley.agents.human import HumanAgent

        return HumanAgent()
    check_persona(spec, role)
    backend = (cache or BackendCache()).get(spec)
    return BargainLLMAgent(name=spec.raw, backend=backend, role=role, persona=spec.persona, settings=settings or GenerationSettings())


# ---------------------------------------------------------------- deliberation: personas and judges

SCRIPTED_DELIBERATORS = tuple(SCRIPTED_DELIBERATION)  # the spec names of the scripted deliberators
RULE_JUDGE = "scripted:rules"


def parse_deliberator(raw: str, what: str = "deliberation agent", extra: tuple[str, ...] = ()) -> AgentSpec | None:
    """The parsed spec of a deliberation agent (None for a scripted stand-in or an ``extra`` name), its prompt
    version checked: a ParleyError naming the spec otherwise. Every place that takes a deliberation agent (the arena,
    a training config's opponents) checks it here, so a spec one accepts the other accepts too."""
    spec = parse_spec(raw, allow=LLM, what=what, extra=(*SCRIPTED_DELIBERATORS, *extra))
    if spec is not None:
        try:  # before the model loads (seconds to minutes), and with the spec named in the error
            seated_prompt_version(DeliberationLLMAgent, spec.persona)
        except ParleyError as exc:
            raise ParleyError(f"invalid {what} {raw!r}: {exc}") from None
    return spec


def build_deliberator(raw: str, settings: GenerationSettings, cache: BackendCache):
    """A deliberation agent: a scripted stand-in by name, or any language model, optionally with the version of its
    prompt (``smollm2#standard.v2``); an ``hf:`` run folder plays the version it trained under."""
    spec = parse_deliberator(raw)
    if spec is None:
        return SCRIPTED_DELIBERATION[raw]()
    return DeliberationLLMAgent(name=raw, backend=cache.get(spec), settings=settings, persona=spec.persona)


def split_judge(raw: str) -> tuple[str, int | None]:
    """(the judge's spec, its rubric version or None for the newest), or a ParleyError naming what is wrong.

    A judge takes ``#v<N>`` where an agent takes a persona: ``scripted:rules#v1``, ``smollm2#v2``.
    """
    from parley.agents import rule_judge
    from parley.models import prompts

    spec, _, suffix = raw.partition("#")
    if not suffix:
        version = None
    else:
        m = re.fullmatch(r"v(\d+)", suffix)
        known = rule_judge.VERSIONS if spec == RULE_JUDGE else prompts.available().get("judge_collective_agency", [])
        if not m or int(m.group(1)) not in known:
            raise ParleyError(f"invalid judge {raw!r}: after '#' a judge takes its rubric version, one of "
                              + ", ".join(f"#v{v}" for v in known) + " (leave it out for the newest)")
        version = int(m.group(1))
    parse_spec(spec, allow=LLM, what="judge", personas=False, extra=(RULE_JUDGE,))
    return spec, version


def build_judge(raw: str, cache: BackendCache):
    """The Collective Agency judge: the rule judge, or any language model, on the rubric its spec names."""
    from parley.agents.judge import LLMJudge, RuleJudge

    spec, version = split_judge(raw)
    if spec == RULE_JUDGE:
        return RuleJudge(version)
    return LLMJudge(cache.get(parse_spec(spec, allow=LLM, what="judge", personas=False)), name=raw, rubric_version=version)


def build_pairwise_judge(raw: str, cache: BackendCache):
    """The pairwise judge for a judge spec: the rule judge compares its scores; a language model is asked."""
    from parley.agents.judge import RuleJudge
    from parley.agents.pairwise_judge import LLMPairwiseJudge, RulePairwiseJudge

    spec, version = split_judge(raw)
    if spec == RULE_JUDGE:
        return RulePairwiseJudge(RuleJudge(version))
    return LLMPairwiseJudge(cache.get(parse_spec(spec, allow=LLM, what="judge", personas=False)), name=spec)


def build_resolver(raw: str, settings: GenerationSettings, cache: BackendCache):
    """What resolves a dilemma alone: a scripted deliberator's own proposal, or any language model."""
    from parley.agents.deliberator import SoloResolver

    spec = parse_spec(raw, allow=LLM, what="deliberation agent", personas=False, extra=SCRIPTED_DELIBERATORS)
    if spec is None:
        return SCRIPTED_DELIBERATION[raw]()
    return SoloResolver(cache.get(spec), name=raw, settings=settings)


# ---------------------------------------------------------------- CaSiNo: campers

SCRIPTED_CAMPERS = tuple(SCRIPTED_CAMPER_FACTORIES)  # the spec names of the scripted campers


def check_camper(raw: str, what: str = "camper") -> AgentSpec | None:
    """The parsed spec of a CaSiNo camper (None for a scripted one), or a ParleyError naming what it may be."""
    return parse_spec(raw, allow=LLM, what=what, personas=False, extra=SCRIPTED_CAMPERS)


def build_camper(raw: str, settings: GenerationSettings, cache: BackendCache):
    """A CaSiNo camper: a scripted one by name, or any language model (no persona suffix)."""
    spec = check_camper(raw)
    if spec is None:
        return SCRIPTED_CAMPER_FACTORIES[raw]()
    return CamperLLMAgent(name=raw, backend=cache.get(spec), settings=settings)
