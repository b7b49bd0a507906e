"""Episodes recorded with a fixed seed, to show that a refactor changed no transcript.

``record(model_dir)`` plays, through the public entry points only (they exist before and after the
floors refactor of issue 15): scripted bargaining, a tiny random LLM buyer (token-level sampling, so any
change in prompts, chat templates, seeds or batching shows), and scripted deliberation judged by the
rule judge. ``python tests/recorded_episodes.py MODEL_DIR OUT.json`` writes them; tests/data holds the
recording made with the code before the refactor.
"""

from __future__ import annotations

import json
import sys


def _deliberator(raw: str, settings, cache):
    try:
        from parley.agents.spec import build_deliberator
    except ImportError:  # before the refactor the factories lived in evaluation
        from parley.evaluation.deliberation_arena import build_deliberator
    return build_deliberator(raw, settings, cache)


def record(model_dir: str) -> dict:
    from parley.agents import BackendCache, GenerationSettings, build_agent
    from parley.agents.judge import RuleJudge
    from parley.environments.deliberation import DeliberationConfig
    from parley.environments.dilemmas import load_dilemmas
    from parley.environments.bargain import ProtocolConfig, Role
    from parley.environments.scenarios import sample_scenarios
    from parley.rollout.deliberation import run_deliberations, with_verdicts
    from parley.rollout.bargain import run_bargains

    cache = BackendCache()
    scenarios = sample_scenarios("test", 4, 0)
    scripted = run_bargains(scenarios, build_agent("scripted:linear", Role.BUYER),
                            build_agent("scripted:boulware", Role.SELLER), seed=0)
    settings = GenerationSettings(max_new_tokens=24, batch_size=2)
    llm = run_bargains(scenarios[:2], build_agent(f"hf:{model_dir}", Role.BUYER, settings, cache),
                       build_agent("scripted:conceder", Role.SELLER), ProtocolConfig(max_turns=4), seed=3)
    dilemmas = load_dilemmas("test")[:3]
    pair = (_deliberator("scripted:stance", settings, cache), _deliberator("scripted:deliberator", settings, cache))
    deliberations = with_verdicts(run_deliberations(dilemmas, pair, DeliberationConfig(max_turns=4), seed=5), RuleJudge(1))  # the rubric they were recorded with

    def clean(episode: dict) -> dict:
        episode = json.loads(json.dumps(episode, default=str))
        episode.get("agents", {}).pop("buyer", None) if isinstance(episode.get("agents"), dict) else None
        return episode  # the LLM's agent name holds the model's temporary path: dropped above

    return {"scripted": [clean(e.to_dict()) for e in scripted], "llm": [clean(e.to_dict()) for e in llm],
            "deliberation": [clean(e.to_dict()) for e in deliberations]}


if __name__ == "__main__":
    with open(sys.argv[2], "w") as f:
        json.dump(record(sys.argv[1]), f, indent=1, sort_keys=True)
