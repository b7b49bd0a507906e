"""Overrides that shrink a training config to a tiny model and a few seconds."""


def tiny_overrides(model_dir, out, *extra):
    return [f"model=hf:{model_dir}", f"output_dir={out}", "grpo.max_steps=2", "grpo.num_generations=2",
            "grpo.scenarios_per_step=2", "environment.scenarios=4", "environment.max_turns=4",
            "evaluation.scenarios=2", "evaluation.every=1", "evaluation.samples=1", "grpo.report_to=[]",
            "generation.max_new_tokens=6", "lora.r=4", "warm_start.episodes=2", *extra]
