"""How many tokens a buyer prompt costs: the system prompt and the first turn's whole prompt, per prompt version.

    python benchmarks/prompt_tokens.py [--personas guided guided.v2] [--split test] [--n 64]

Renders each persona's first-turn prompt for the same scenarios with the embedded SmolLM2's tokenizer and chat
template (no model is loaded) and prints the mean, median and largest token counts.
"""

from __future__ import annotations

import argparse
import statistics

from parley.agents.bargainer import BargainLLMAgent
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios
from parley.models.loading import smollm2_location


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", nargs="+", default=["guided", "guided.v2"])
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-turns", type=int, default=8)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    folder, gguf = smollm2_location()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    scenarios = sample_scenarios(args.split, args.n, seed=0)
    print(f"{args.n} {args.split} scenarios, SmolLM2 tokenizer\n")
    print("| persona | prompt | system prompt tokens: mean / median / max | first-turn prompt tokens: mean / median / max |")
    print("|---|---|---|---|")
    for persona in args.personas:
        agent = BargainLLMAgent("renderer", backend=None, role=Role.BUYER, persona=persona)
        system, first = [], []
        for scenario in scenarios:
            env = BargainEnv(ProtocolConfig(max_turns=args.max_turns))
            env.reset(scenario)
            messages = agent.messages(env.observe(Role.BUYER))
            system.append(len(tokenizer(messages[0]["content"], add_special_tokens=False)["input_ids"]))
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            first.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
        row = [f"{statistics.mean(v):.0f} / {statistics.median(v):.0f} / {max(v)}" for v in (system, first)]
        print(f"| {persona} | {agent.prompt_id} | {row[0]} | {row[1]} |")


if __name__ == "__main__":
    main()
