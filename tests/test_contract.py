"""Every registered game holds to the one environment contract (parley.environments.contract), and a game
registered from the tests reaches `parley arena` without an edit in evaluation or the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from parley import ParleyError
from parley.environments.contract import check_env
from parley.environments.registry import ENVIRONMENTS, GameEnvironment, get_environment, register_environment
from parley.evaluation import games as arenas


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_every_registered_game_keeps_the_contract(name):
    game = get_environment(name)
    assert len(game.agent_names) == len(game.make_env(game.default_max_turns).agents)
    check_env(lambda: game.make_env(game.default_max_turns), game.scenarios("test", 4, 0))
    assert [getattr(s, "id") for s in game.scenarios("test", 4, 0)] == [getattr(s, "id") for s in game.scenarios("test", 4, 0)]


def test_the_contract_check_catches_a_broken_environment():
    casino = get_environment("casino")

    class Repeats(type(casino.make_env(10))):
        def step(self, text):  # the same camper moves again: a broken turn order
            record = super().step(text)
            if not self.done:
                self.agent_selection = 1 - self.agent_selection
            return record

    with pytest.raises(AssertionError, match="moved twice"):
        check_env(lambda: Repeats(), casino.scenarios("test", 1, 0))

    class Forgetful(type(casino.make_env(10))):
        def rewards(self):
            return {0: 1.0}

    with pytest.raises(AssertionError, match="rewards name"):
        check_env(lambda: Forgetful(), casino.scenarios("test", 1, 0))


def test_unknown_games_name_the_registered_ones():
    with pytest.raises(ParleyError, match="unknown game 'chess': expected one of bargain, casino, deliberation"):
        get_environment("chess")


@pytest.fixture
def toy():
    """'toy': CaSiNo over the first two test dialogues only, registered on the environment and evaluation floors."""
    casino = get_environment("casino")
    register_environment(GameEnvironment("toy", "two dialogues", ("a", "b"), 4, casino.make_env,
                                         lambda split, n, seed: [casino.scenarios(split, 2, 0)[i % 2] for i in range(n)]))
    played: list[int] = []

    def run(request, show_progress):
        from parley.agents.camper import SCRIPTED_CAMPERS
        from parley.rollout.casino import run_casino

        pair = tuple(SCRIPTED_CAMPERS[request.agent(o, options)]() for o in ("agent", "opponent"))
        episodes = run_casino(get_environment("toy").scenarios(request.split, request.episodes, request.seed), pair)
        played.append(len(episodes))
        request.out.mkdir(parents=True, exist_ok=True)
        path = request.out / "episodes.jsonl"
        path.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in episodes))
        summary = {"episodes": len(episodes), "agreement_rate": sum(e.outcome.deal for e in episodes) / len(episodes),
                   "agreement_rate_ci95": (0.0, 1.0)}
        return arenas.ArenaOutcome(summary, "toy game", arenas.common_rows(summary), [path])

    options = {"agent": "scripted:fair", "opponent": "scripted:fair"}
    arenas.get_arena("bargain")  # the built-in games first, so that the toy stays registered after them
    arenas.register_arena(arenas.ArenaGame("toy", options, run))
    yield played
    arenas.ARENAS.pop("toy")
    ENVIRONMENTS.pop("toy")


def test_a_registered_game_runs_in_the_arena_without_an_edit_in_the_cli(toy, tmp_path):
    from parley.cli.main import app

    result = CliRunner().invoke(app, ["arena", "--env", "toy", "--opponent", "scripted:greedy", "--episodes", "3",
                                      "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert toy == [3] and "toy game" in result.output
    lines = [json.loads(line) for line in (tmp_path / "t" / "episodes.jsonl").read_text().splitlines()]
    assert [line["agents"] for line in lines] == [["scripted:fair", "scripted:greedy"]] * 3
    refused = CliRunner().invoke(app, ["arena", "--env", "toy", "--judge", "scripted:rules", "--out", str(tmp_path / "t")])
    assert refused.exit_code == 2 and "--judge does not apply to --env toy; it takes --agent, --opponent" in refused.output


def test_an_arena_may_only_name_options_the_cli_has():
    with pytest.raises(ValueError, match="options the CLI does not have"):
        arenas.register_arena(arenas.ArenaGame("bad", {"referee": None}, lambda r, p: None))


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_scenario_k_is_the_kth_of_the_sampled_list(name):
    """What the adapters draw one episode at a time is exactly what the arena and the trainer draw as a list."""
    game = get_environment(name)
    listed = [s.id for s in game.scenarios("test", 40, 3)]
    assert [game.scenario("test", 3, k).id for k in (0, 1, 2, 39, 7)] == [listed[k] for k in (0, 1, 2, 39, 7)]
