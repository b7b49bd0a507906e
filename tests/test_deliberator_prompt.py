"""Prompt versions of the deliberator: ``#standard.v2`` plays deliberator.v2, which asks for a third course of action.

Guarantees attacked here: the default stays v1 (the shipped deliberator and every recorded figure played it); a spec,
a training config and a run folder's records each say which version is played, in the arena, in GRPO self-play
(trainee and frozen copy alike) and in the warm start's examples; an unknown version or a bargaining persona is
refused with a line naming what there is; v2 names both stances as what the judge scores 0 and drops the goals that
asked each persona to stay close to its own stance.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from parley import ParleyError
from parley.agents.deliberator import DeliberationLLMAgent
from parley.agents.spec import build_deliberator
from parley.environments.deliberation import DeliberationConfig, DeliberationEnv
from parley.environments.dilemmas import load_dilemmas
from parley.models.generation import GenerationSettings
from parley.training.config import load_config
from parley.training.warm_start import deliberation_teacher_examples
from training_helpers import tiny_overrides

NO_MODEL = SimpleNamespace(get=lambda spec: None)  # build_deliberator without loading weights: only prompts are read


def _system(agent: DeliberationLLMAgent, speaker: int = 0) -> str:
    env = DeliberationEnv(DeliberationConfig(max_turns=6))
    env.reset(load_dilemmas("test")[0])
    if speaker:
        env.step("PROPOSAL: We share the decision.")
    return agent.messages(env.observe(speaker))[0]["content"]


def test_the_default_stays_v1_and_v2_is_played_where_named():
    assert DeliberationLLMAgent("d", backend=None).prompt_id == "deliberator.v1"
    assert build_deliberator("smollm2", GenerationSettings(), NO_MODEL).prompt_id == "deliberator.v1"
    assert build_deliberator("smollm2#standard.v2", GenerationSettings(), NO_MODEL).prompt_id == "deliberator.v2"
    assert build_deliberator("hf:some/model#standard.v1", GenerationSettings(), NO_MODEL).prompt_id == "deliberator.v1"


def test_v2_names_both_stances_as_no_resolution_and_drops_the_goals():
    d = load_dilemmas("test")[0]
    me, other = d.personas
    v1 = _system(DeliberationLLMAgent("d", backend=None))
    v2 = _system(DeliberationLLMAgent("d", backend=None, persona="standard.v2"))
    assert "stays as close as possible" in v1 and "stays as close as possible" not in v2
    assert f'"{me.stance}" crosses {other.name}\'s red line' in v2
    assert f'"{other.stance}" crosses yours' in v2
    assert "third course of action" in v2 and "third course of action" not in v1
    assert all(v in v2 for v in other.values) and all(line in v2 for line in me.red_lines)
    # the second speaker reads its own persona's side, not the first's
    second = _system(DeliberationLLMAgent("d", backend=None, persona="standard.v2"), speaker=1)
    assert f'"{other.stance}" crosses {me.name}\'s red line' in second


def test_v3_shows_neither_option_nor_any_red_line_text_to_copy():
    """The 135M model copied option and rule text from v2's prompt straight into its proposals, where the judge reads
    a copied option as a crossing (docs/benchmarks.md, stop 43). v3 keeps the values and the third-course
    instruction and leaves every option's and red line's words out, for both seats."""
    for d in load_dilemmas("test")[:8]:
        for speaker in (0, 1):
            env = DeliberationEnv(DeliberationConfig(max_turns=6))
            env.reset(d)
            if speaker:
                env.step("PROPOSAL: We share the decision.")
            agent = DeliberationLLMAgent("d", backend=None, persona="standard.v3")
            system = agent.messages(env.observe(speaker))[0]["content"]
            me, other = d.personas[speaker], d.personas[1 - speaker]
            low = system.lower()
            for option in d.options:
                assert option.lower().rstrip(".") not in low, option
            for line in (*me.red_lines, *other.red_lines):
                assert line.lower() not in low, line
            assert "break the rule" not in low and "red line" not in low
            assert "third course of action" in system and d.situation in system
            assert f"You are {me.name}, deliberating with {other.name}" in system
            assert all(v in system for v in (*me.values, *other.values))
    assert build_deliberator("smollm2#standard.v3", GenerationSettings(), NO_MODEL).prompt_id == "deliberator.v3"
    assert DeliberationLLMAgent("d", backend=None).prompt_id == "deliberator.v1"  # the default stays v1


@pytest.mark.parametrize("raw, message", [
    ("smollm2#standard.v9", r"the deliberator prompt has no version 9; it has v1, v2, v3"),
    ("smollm2#hostile", r"deliberator agents have one persona, standard"),
    ("smollm2#guided.v2", r"deliberator agents have one persona, standard"),
])
def test_an_unknown_version_or_a_bargaining_persona_is_refused(raw, message):
    with pytest.raises(ParleyError, match=rf"invalid deliberation agent {raw!r}: persona .*{message}") as err:
        build_deliberator(raw, GenerationSettings(), NO_MODEL)
    assert "\n" not in str(err.value)


def test_a_run_folder_trained_under_v2_plays_v2(tmp_path):
    """`hf:RUN/final` of a deliberator trained under standard.v2 reads the prompt it trained under."""
    final, warm = tmp_path / "final", tmp_path / "warm_start"
    for folder in (final, warm):
        folder.mkdir()
    (final / "parley_trained.json").write_text(json.dumps({"env": "deliberation", "role": "buyer", "persona": "standard.v2"}))
    (warm / "warm_start.json").write_text(json.dumps({"prompt_id": "deliberator.v2", "persona": "standard.v2"}))
    for folder in (final, warm):
        assert build_deliberator(f"hf:{folder}", GenerationSettings(), NO_MODEL).prompt_id == "deliberator.v2"
    assert build_deliberator(f"hf:{final}#standard.v1", GenerationSettings(), NO_MODEL).prompt_id == "deliberator.v1"


def test_a_training_config_picks_the_version_for_the_rollout_and_the_warm_start(tiny_model_dir, tmp_path):
    cfg = load_config(None, tiny_overrides(tiny_model_dir, tmp_path, "env=deliberation", "persona=standard.v2"))
    assert cfg.persona == "standard.v2"
    for bad, message in (("standard.v9", "the deliberator prompt has no version 9"),
                         ("guided", "deliberator agents have one persona, standard")):
        with pytest.raises(ParleyError, match=message):
            load_config(None, tiny_overrides(tiny_model_dir, tmp_path, "env=deliberation", f"persona={bad}"))
    from parley.training.deliberation_rollout import DeliberationRollout

    rollout = DeliberationRollout(load_dilemmas("train")[:2], "self", DeliberationConfig(max_turns=4),
                                  GenerationSettings(), judge=None, seed=0, persona=cfg.persona)
    assert rollout._llm(None, "trainee").prompt_id == rollout._llm(None, "self").prompt_id == "deliberator.v2"
    examples, summary = deliberation_teacher_examples(["scripted:deliberator"], "self", "scripted:rules",
                                                      DeliberationConfig(max_turns=4), episodes=2, seed=0,
                                                      persona=cfg.persona)
    assert summary["prompt_id"] == "deliberator.v2" and summary["persona"] == "standard.v2" and examples
    assert all("third course of action" in x["prompt"][0]["content"] for x in examples)


def test_a_fixed_llm_opponent_in_a_training_config_reads_the_version_it_names(tiny_model_dir, tmp_path):
    """A config's fixed opponent takes the same specs as the arena's --opponent: `#standard.v2` is played, not refused
    (it was refused before stop 42), and a bad version is refused at load, naming the field, before any model loads."""
    from parley.training.deliberation_rollout import DeliberationRollout

    cfg = load_config(None, tiny_overrides(tiny_model_dir, tmp_path, "env=deliberation",
                                           "opponent=[self, smollm2#standard.v2]",
                                           "warm_start.opponents=[smollm2#standard.v2]"))
    assert cfg.opponents == ["self", "smollm2#standard.v2"] and cfg.persona == "standard"
    rollout = DeliberationRollout(load_dilemmas("train")[:2], cfg.opponents, DeliberationConfig(max_turns=4),
                                  GenerationSettings(), judge=None, seed=0, backends=NO_MODEL)
    assert rollout._fixed_opponent("smollm2#standard.v2").prompt_id == "deliberator.v2"
    assert rollout._llm(None, "self").prompt_id == "deliberator.v1"  # the frozen copy follows the trainee's persona
    for field, bad, message in (("opponent", "smollm2#standard.v9", "the deliberator prompt has no version 9"),
                                ("opponent", "[self, smollm2#hostile]", "deliberator agents have one persona"),
                                ("warm_start.opponents", "[hf:x#guided]", "deliberator agents have one persona")):
        with pytest.raises(ParleyError, match=rf"invalid training opponent .*{message}") as err:
            load_config(None, tiny_overrides(tiny_model_dir, tmp_path, "env=deliberation", f"{field}={bad}"))
        assert "Traceback" not in str(err.value)
