"""How likely a menu buyer is to accept where its menu lists ACCEPT, read from its next-token probabilities.

    python benchmarks/menu_accept_probe.py hf:runs/menu-seed0/warm_start="1 epoch" \\
        hf:runs/menuacc-seed0/warm_start="3 epochs" --examples runs/menu-seed0/warm_start/examples.jsonl

Each model (a model spec: hf:<path>, smollm2, smollm2:<adapter>; optionally =LABEL) reads the warm start's
teacher examples (a warm start folder's examples.jsonl: the prompts the trainee saw, the teacher's turns) and, at every
prompt whose menu lists ACCEPT, gives a probability to the first token of the teacher's accept text ("That works for
me. ACCEPT" opens with "That"; every offer on the menu opens with "I"). The teacher, a uniform pick of the menu,
accepts about a third of those prompts; a warm start that learned the choice puts about that much there. The mean is
printed at temperature 1 and at the suite's 0.7, where sampling thins a rare choice further.

Why: the suite says how often a model accepted (menu_choices.py), not whether accepting was ever likely. GRPO can
only reinforce what its rollouts sample (8 a group at 0.7), so a warm start that gives ACCEPT 1% leaves GRPO nothing
to learn about accepting. Without ``--examples`` each model reads the examples.jsonl in its own folder.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ACCEPT_LISTED = re.compile(r"Moves: [^\]\n]*\bACCEPT\b")


def accept_prompts(examples: list[dict]) -> tuple[list[list[dict]], int, str | None]:
    """(prompts whose last message's menu lists ACCEPT, how many of them the teacher accepted, the accept text)."""
    prompts, accepted, text = [], 0, None
    for e in examples:
        if not ACCEPT_LISTED.search(e["prompt"][-1]["content"]):
            continue
        prompts.append(e["prompt"])
        completion = e["completion"][0]["content"]
        if completion.rstrip().endswith("ACCEPT"):
            accepted += 1
            text = text or completion
    return prompts, accepted, text


def accept_probabilities(model, tokenizer, prompts: list[list[dict]], accept_text: str,
                         temperatures=(1.0, 0.7)) -> dict[float, list[float]]:
    """Per temperature, the probability of the accept text's first token after each prompt."""
    import torch

    first = tokenizer(accept_text, add_special_tokens=False)["input_ids"][0]
    out: dict[float, list[float]] = {t: [] for t in temperatures}
    for messages in prompts:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
        with torch.no_grad():
            logits = model(**ids).logits[0, -1].float()
        for t in temperatures:
            out[t].append(float(torch.softmax(logits / t, -1)[first]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", metavar="SPEC[=LABEL]")
    parser.add_argument("--examples", type=Path, default=None,
                        help="a warm start's examples.jsonl (default: the one in each model's own folder)")
    args = parser.parse_args(argv)
    from parley import ParleyError
    from parley.models.loading import load_model_spec

    rows = []
    for item in args.models:
        spec, _, label = item.partition("=")
        label = label or spec
        path = args.examples or Path(spec.removeprefix("hf:")) / "examples.jsonl"
        if not path.is_file():
            print(f"{path} is not a warm start's examples file: pass --examples RUN/warm_start/examples.jsonl",
                  file=sys.stderr)
            return 2
        prompts, accepted, text = accept_prompts([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
        if text is None:
            print(f"{path}: the teacher never accepted where ACCEPT was listed, so there is no accept text to score",
                  file=sys.stderr)
            return 2
        try:
            model, tokenizer = load_model_spec(spec, dtype="float32")
        except (ParleyError, OSError) as exc:
            print(f"cannot load {spec!r}: {exc}", file=sys.stderr)
            return 2
        probs = accept_probabilities(model.eval(), tokenizer, prompts, text)
        rows.append(f"| {label} | {len(prompts)} | {accepted / len(prompts):.2f} | {statistics.fmean(probs[1.0]):.3f} | "
                    f"{statistics.fmean(probs[0.7]):.3f} |")
    print("| model | prompts listing ACCEPT | teacher accepted | P(accept), T=1 | P(accept), T=0.7 |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
