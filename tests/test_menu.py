"""The menu buyer persona and its random teacher (scripted:menu): moves the model can copy, and a choice among them.

Guarantees attacked here: a buyer that only copies menu moves never passes its budget, never offers the budget itself
and never accepts an offer it cannot afford; the prompt lists exactly ``menu_moves`` and past turns render as they did
(the K/V prefix holds); the teacher only ever writes a listed move, picks every one of them, and is reproducible
from (seed, episode, turn) whatever the batch; only a buyer plays either, with an error that says so; a menu trainee's
warm-start examples show the list the teacher picked from.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley import ParleyError
from parley.agents.bargainer import MENU_ANCHOR, BargainLLMAgent, MenuAgent, menu_moves
from parley.agents.spec import build_agent, parse_spec
from parley.environments.actions import Action, ActionKind, format_action, parse_action
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import ScenarioConfig, sample_scenarios
from parley.training.config import load_config
from parley.training.warm_start import teacher_examples

MIXED = sample_scenarios("validation", 24, seed=3, config=ScenarioConfig(budget_rule="mixed"))
price = st.integers(50, 500_000).map(lambda cents: cents / 100)
SHOWN = re.compile(r"Moves: (.*)\.\]")


def shown_moves(message: str) -> list[str]:
    found = SHOWN.findall(message)
    assert len(found) == 1, message
    return found[0].split(" | ")


@settings(max_examples=300, deadline=None)
@given(theirs=st.lists(st.none() | price, min_size=1, max_size=6), budget=price, listing=price,
       picks=st.lists(st.integers(0, 2), min_size=6, max_size=6))
def test_a_buyer_that_copies_menu_moves_stays_inside_its_budget(theirs, budget, listing, picks):
    """Play any sequence of seller offers against any sequence of menu picks: every offer is below the budget (so
    never the budget itself), never above the seller's standing offer once one is affordable, and ACCEPT is listed
    only when the seller's offer is affordable."""
    own = None
    for seller_offer, pick in zip(theirs, picks):
        moves = menu_moves(own, seller_offer, budget, listing)
        offers = [m.price for m in moves if m.kind is ActionKind.OFFER]
        assert offers and len(offers) == len(set(offers))
        assert all(0 <= p < budget or p == own for p in offers)
        accepting = [m for m in moves if m.kind is ActionKind.ACCEPT]
        assert bool(accepting) == (seller_offer is not None and seller_offer <= budget)
        if own is None:
            assert offers[0] <= MENU_ANCHOR * min(listing, budget) + 1e-9
        move = moves[pick % len(moves)]
        if move.kind is ActionKind.ACCEPT:
            break
        own = move.price
        assert own < budget or own == 0


def test_the_menu_holds_splits_and_accepts():
    assert menu_moves(None, None, 80.0, 100.0) == [Action(ActionKind.OFFER, 20.0), Action(ActionKind.OFFER, 40.0)]
    assert menu_moves(40.0, 100.0, 80.0, 100.0) == [Action(ActionKind.OFFER, 40.0), Action(ActionKind.OFFER, 60.0)]
    assert menu_moves(40.0, 60.0, 80.0, 100.0) == [Action(ActionKind.OFFER, 40.0), Action(ActionKind.OFFER, 50.0),
                                                   Action(ActionKind.ACCEPT)]
    assert menu_moves(40.0, None, 80.0, 100.0) == [Action(ActionKind.OFFER, 40.0)]  # hold and split coincide
    assert menu_moves(None, 70.0, 80.0, 100.0)[-1] == Action(ActionKind.ACCEPT)  # the seller spoke first
    assert menu_moves(None, None, 30.0, 100.0)[0].price == 7.5  # CI: a quarter of the budget, not of the listing


def play_with_menu_renderer(scenario, seller="scripted:linear", turns=8, seed=0):
    env = BargainEnv(ProtocolConfig(max_turns=turns, parser="strict"))
    env.reset(scenario)
    menu = BargainLLMAgent("m", backend=None, role=Role.BUYER, persona="menu.v2")
    seller_agent, teacher = build_agent(seller, Role.SELLER), build_agent("scripted:menu", Role.BUYER)
    seen = []
    while not env.done:
        obs = env.observe(env.agent_selection)
        if obs.role is Role.BUYER:
            seen.append((obs, menu.messages(obs), teacher.act([obs], seed)[0]))
            env.step(seen[-1][2])
        else:
            env.step(seller_agent.act([obs])[0])
    return env, seen


@pytest.mark.parametrize("index", range(0, 24, 3))
def test_the_prompt_lists_exactly_the_menu_and_the_teacher_writes_one_of_its_moves(index):
    env, seen = play_with_menu_renderer(MIXED[index], seed=index)
    previous = None
    for obs, messages, move in seen:
        listed = shown_moves(messages[-1]["content"])
        assert listed == [format_action(m) for m in menu_moves(obs.own_offer, obs.other_offer, obs.private_value,
                                                               obs.listing_price)]
        assert move.split(". ")[-1] in listed  # the teacher's action is a copy of a listed move
        if previous is not None:
            assert messages[: len(previous)] == previous
        previous = messages + [{"role": "assistant", "content": move}]
    outcome = env.outcome
    if outcome.deal:
        assert outcome.price <= MIXED[index].budget
    assert not any(t.format_error or t.revealed_budget for t in env.turns)


def test_the_teacher_picks_every_move_reproducibly_in_any_batch_order():
    env = BargainEnv(ProtocolConfig(max_turns=8))
    observations = []
    for scenario in MIXED[:12]:
        env.reset(scenario)
        env.step("OFFER: $1.00")
        env.step(f"OFFER: ${scenario.budget * 0.9:.2f}")  # affordable: three moves listed
        observations.append(env.observe(Role.BUYER))
    teacher = MenuAgent()
    picks = Counter()

    def move(text):
        return parse_action(text).kind, "hold" if "$1.00" in text else ""

    for seed in range(20):
        texts = teacher.act(observations, seed)
        assert teacher.act(observations[::-1], seed) == texts[::-1]
        assert len({move(t) for t in texts}) > 1  # episodes draw apart, not one pick for the whole batch
        picks.update(move(t) for t in texts)
    assert picks[ActionKind.OFFER, "hold"] > 40 and picks[ActionKind.ACCEPT, ""] > 40  # of 240 picks, ~80 each
    assert picks[ActionKind.OFFER, ""] > 40
    assert teacher.act(observations, 1) != teacher.act(observations, 2)


def test_only_a_buyer_plays_the_menu(tiny_model_dir):
    assert parse_spec("smollm2#menu.v2").persona == "menu.v2"
    assert build_agent(f"hf:{tiny_model_dir}#menu", Role.BUYER).persona == "menu"
    with pytest.raises(ParleyError, match="'menu' is for buyers; a seller takes standard, hostile"):
        build_agent(f"hf:{tiny_model_dir}#menu", Role.SELLER)
    with pytest.raises(ParleyError, match="scripted:menu only plays the buyer; as the seller, pick one of "
                                          "scripted:boulware.*scripted:prober"):
        build_agent("scripted:menu", Role.SELLER)
    with pytest.raises(ParleyError, match="scripted:prober only plays the seller"):
        build_agent("scripted:prober", Role.BUYER)


def test_the_standard_and_guided_buyers_see_no_menu():
    env = BargainEnv(ProtocolConfig(max_turns=6))
    env.reset(MIXED[0])
    for persona in ("standard", "guided.v2"):
        assert "Moves:" not in str(BargainLLMAgent("s", backend=None, role=Role.BUYER, persona=persona)
                                   .messages(env.observe(Role.BUYER)))


def test_menu_warm_start_examples_show_the_list_the_teacher_picked_from():
    examples, summary = teacher_examples(["scripted:menu"], "scripted:linear", Role.BUYER,
                                         ProtocolConfig(max_turns=8, parser="strict"), episodes=16, seed=0,
                                         scenario_config=ScenarioConfig(budget_rule="mixed"), persona="menu.v2")
    assert summary["persona"] == "menu.v2" and summary["prompt_id"] == "buyer.v2"
    kinds = Counter()
    for x in examples:
        listed = shown_moves(x["prompt"][-1]["content"])
        action = x["completion"][0]["content"].split(". ")[-1]
        assert action in listed
        kinds[listed.index(action), len(listed)] += 1
    assert len({index for index, _ in kinds}) == 3  # hold, split and accept all taught


def test_the_menu_config_loads_as_documented():
    cfg = load_config("configs/bargain-smollm2-menu-cpu.yaml")
    assert cfg.persona == "menu.v2" and cfg.warm_start.teachers == ["scripted:menu"]
    assert cfg.environment.parser == "strict" and cfg.grpo.scenarios_per_step == 2


def test_the_choice_counter_reads_back_what_the_buyer_did():
    """Against a scripted seller: the random teacher's turns are all menu moves; the splitter (the guided buyer's
    twin) opens with the menu's split and never leaves the menu; the linear buyer's computed concessions are off
    it. The JSONL record counts exactly as the episode in memory does."""
    from parley.evaluation.behaviour import episode_menu_choices, menu_choice_shares, menu_choices
    from parley.rollout import run_bargains

    protocol = ProtocolConfig(max_turns=8, parser="strict")
    seller = build_agent("scripted:linear", Role.SELLER)
    played = {name: run_bargains(MIXED, build_agent(name, Role.BUYER), seller, protocol, seed=4)
              for name in ("scripted:menu", "scripted:splitter", "scripted:linear")}
    menu = menu_choice_shares(played["scripted:menu"])
    assert menu["menu_other"] == 0 and min(menu["menu_hold"], menu["menu_split"]) > 0.3
    assert menu["menu_accept"] > 0.03  # listed only once the seller's offer is affordable, and it ends the episode
    splitter = [episode_menu_choices(e) for e in played["scripted:splitter"]]
    assert {cs[0] for cs in splitter} == {"split"}
    assert {c for cs in splitter for c in cs} == {"split", "accept"}
    linear = menu_choice_shares(played["scripted:linear"])
    assert linear["menu_other"] > 0.5  # a computed concession is rarely a menu move
    for e in played["scripted:menu"]:
        record = e.to_dict()
        turns = [(t["role"], t["action"]["kind"], t["action"]["price"], t["effect"]) for t in record["turns"]]
        assert menu_choices(turns, record["scenario"]["budget"], record["scenario"]["listing_price"]) \
            == episode_menu_choices(e)


def test_the_docs_tables_pair_two_buyers_episode_by_episode_and_count_their_choices(tmp_path):
    """benchmarks/seeds_table.py --paired and benchmarks/menu_choices.py, the menu section's tables: the paired
    difference is the mean of per-episode differences over the unseen sellers' MI episodes (checked by hand here),
    runs of different scenarios are refused, and the random teacher's suite turns are all menu moves."""
    import json
    import statistics
    import subprocess
    import sys

    from parley.evaluation.bargain_suite import SuiteConfig, run_suite

    for buyer, name, scenarios in (("scripted:menu", "menu", 4), ("scripted:splitter", "split", 4),
                                   ("scripted:splitter", "other", 6)):
        run_suite(SuiteConfig(buyer=buyer, seller_model=None, scenarios=scenarios, baselines=name == "split",
                              report=False, out=tmp_path / name), show_progress=False)
    rewards = {}
    for name in ("menu", "split"):
        for path in (tmp_path / name / "episodes").glob("*.jsonl"):
            for line in path.read_text().splitlines():
                e = json.loads(line)
                if (e["agents"]["buyer"] == ("scripted:menu" if name == "menu" else "scripted:splitter")
                        and e["agents"]["seller"] != "scripted:linear" and e["scenario"]["interest"] == "mutual"):
                    rewards[name, e["agents"]["seller"], e["scenario"]["id"]] = e["reward"]["buyer"]
    keys = sorted({k[1:] for k in rewards})
    expected = statistics.fmean(rewards["split", *k] - rewards["menu", *k] for k in keys)
    script = [sys.executable, "benchmarks/seeds_table.py", "--trained-on", "scripted:linear",
              "--baselines", str(tmp_path / "split")]
    ok = subprocess.run([*script, "--paired", f"{tmp_path / 'menu'}:{tmp_path / 'split'}:split - menu"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert f"| split - menu | {len(keys)} | {expected:+.3f} [" in ok.stdout
    # the CI resamples scenarios (every seller of the pool played each one), or, with --ci episode, single episodes
    # as the tables before 2026-12-07 did (their formula, written out here)
    from parley.evaluation.stats import cluster_bootstrap_ci

    diffs = [rewards["split", *k] - rewards["menu", *k] for k in keys]
    lo, hi = cluster_bootstrap_ci(diffs, [k[1] for k in keys])
    assert f"| split - menu | {len(keys)} | {expected:+.3f} [{lo:+.3f}, {hi:+.3f}] |" in ok.stdout
    old = subprocess.run([*script, "--ci", "episode", "--paired", f"{tmp_path / 'menu'}:{tmp_path / 'split'}:split - menu"],
                         capture_output=True, text=True)
    import random

    draw = random.Random(0)
    means = sorted(statistics.fmean(draw.choices(diffs, k=len(diffs))) for _ in range(2000))
    assert f"{expected:+.3f} [{means[50]:+.3f}, {means[1949]:+.3f}] |" in old.stdout, old.stderr
    # --by-seller: one column per unseen seller, each the mean over that seller's episodes alone
    split = subprocess.run([*script, "--by-seller", "--paired", f"{tmp_path / 'menu'}:{tmp_path / 'split'}:split - menu"],
                           capture_output=True, text=True)
    assert split.returncode == 0, split.stderr
    header = next(line for line in split.stdout.splitlines() if line.startswith("| paired, by unseen seller |"))
    sellers = header.strip("| ").split(" | ")[1:]
    assert sellers == sorted({k[0] for k in keys}) and "scripted:linear" not in sellers and len(sellers) == 5
    cells = next(line for line in split.stdout.splitlines()[::-1] if line.startswith("| split - menu |"))
    cells = cells.strip("| ").split(" | ")[1:]
    for seller, cell in zip(sellers, cells):
        mine = [rewards["split", *k] - rewards["menu", *k] for k in keys if k[0] == seller]
        assert cell.startswith(f"{statistics.fmean(mine):+.3f} [") and cell.endswith(f"({len(mine)})")
    assert "by unseen seller" not in ok.stdout  # only when asked
    head, tail = script[:2], script[2:]  # the trained runs first: --baselines takes every folder after it
    two = subprocess.run([*head, f"{tmp_path / 'menu'}:a", f"{tmp_path / 'other'}:b", *tail], capture_output=True,
                         text=True)
    assert "spread of the 2 runs' MI means" in two.stdout, two.stderr
    # one model twice is one seed twice (as two settings of one training seed would be): no spread across seeds
    same = subprocess.run([*head, f"{tmp_path / 'menu'}:a", f"{tmp_path / 'menu'}:b", *tail, "--paired",
                           f"{tmp_path / 'split'}:{tmp_path / 'menu'}", "--paired", f"{tmp_path / 'split'}:{tmp_path / 'menu'}"],
                          capture_output=True, text=True)
    assert "spread of" not in same.stdout and "no spread printed" in same.stdout, same.stderr
    assert "mean of the 2" not in same.stdout and "no mean of the pairs printed" in same.stdout
    bad = subprocess.run([*script, "--paired", f"{tmp_path / 'menu'}:{tmp_path / 'other'}"], capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "did not play the same episodes" in bad.stderr
    shares = subprocess.run([sys.executable, "benchmarks/menu_choices.py", f"{tmp_path / 'menu'}:teacher"],
                            capture_output=True, text=True)
    assert shares.returncode == 0, shares.stderr
    row = next(line for line in shares.stdout.splitlines() if line.startswith("| teacher |"))
    assert row.split(" | ")[4].endswith("/ 0.00")  # all turns: hold / split / accept / other, and no other


def test_the_plan_table_bounds_the_fixed_plans_and_reproduces_the_splitter():
    """benchmarks/menu_plans.py: the best plan is at least every named plan, and "all split" against a seller is the
    splitter's own play minus its acceptance rule, so against the hardliner, whom no plan moves, everything is 0."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "benchmarks/menu_plans.py", "--scenarios", "4"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = [line.split(" | ") for line in out.stdout.splitlines() if line.startswith("| scripted:")]
    assert len(rows) == 6
    for row in rows:
        best = float(row[1].split()[1])
        assert all(best >= float(cell.strip(" |")) for cell in row[2:6])
    hardliner = next(r for r in rows if r[0] == "| scripted:hardliner")
    assert {float(c.strip(" |").split()[-1]) for c in hardliner[1:]} == {0.0}
    for row in rows:  # the best plan that never accepts is one of the plans: never above the best
        never = row[7].strip(" |").split()
        assert "a" not in never[0] and float(never[1]) <= float(row[1].split()[1])


def test_the_plan_table_plays_named_sellers_and_says_where_accepting_pays():
    """--sellers plays training sellers too. Against linear, which accepts any bid above its floor on its last turn,
    no plan gains by accepting; the final-offer seller walks from every buyer that does not accept its final offer."""
    import subprocess
    import sys

    script = [sys.executable, "benchmarks/menu_plans.py", "--scenarios", "4"]
    out = subprocess.run([*script, "--sellers", "scripted:linear, scripted:final-offer"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = {r[0].strip("| "): r for r in (line.split(" | ") for line in out.stdout.splitlines() if line.startswith("| scripted:"))}
    assert list(rows) == ["scripted:linear", "scripted:final-offer"]
    best = {seller: float(row[1].split()[1]) for seller, row in rows.items()}
    never = {seller: float(row[7].strip(" |").split()[1]) for seller, row in rows.items()}
    assert never["scripted:linear"] == best["scripted:linear"]
    assert never["scripted:final-offer"] < best["scripted:final-offer"] and "a" in rows["scripted:final-offer"][1]
    for flag, bad, words in (("--sellers", "scripted:nobody", "unknown scripted strategy"),
                             ("--sellers", "smollm2", "not a scripted seller"), ("--sellers", " , ", "names no seller"),
                             ("--plans", "sssa", "5 letters of h, s, a"), ("--plans", "sssxs", "sssxs")):
        refused = subprocess.run([*script, flag, bad], capture_output=True, text=True)
        assert refused.returncode == 2 and words in refused.stderr and "Traceback" not in refused.stderr
    # --plans: the asked plans are the columns, and a plan's column is the same number as in the default table
    asked = subprocess.run([*script, "--sellers", "scripted:conceder", "--plans", "sssss,hhhha"], capture_output=True,
                           text=True)
    default = subprocess.run([*script, "--sellers", "scripted:conceder"], capture_output=True, text=True)
    header = next(line for line in asked.stdout.splitlines() if line.startswith("| seller |"))
    assert header.split(" | ")[2:4] == ["sssss", "hhhha"]
    row = next(line for line in asked.stdout.splitlines() if line.startswith("| scripted:")).split(" | ")
    named = next(line for line in default.stdout.splitlines() if line.startswith("| scripted:")).split(" | ")
    assert row[2:4] == named[2:4]  # all split, then hold-then-accept


def _menu_choices_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("menu_choices", "benchmarks/menu_choices.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _turn(role, kind, price, effect):
    text = f"OFFER: ${price:.2f}" if kind == "offer" else kind.upper()
    return {"role": role, "text": text, "action": {"kind": kind, "price": price}, "effect": effect}


def test_menu_choices_counts_the_two_ways_off_the_menu_and_nothing_on_it():
    """benchmarks/menu_choices.py off_menu: a listing-price opening and copies of the seller's standing offer (above
    the budget or not) are counted as such; menu moves (hold, split, an affordable accept) count as none of them. A
    turn whose menu listed ACCEPT (the seller's offer within budget) counts as one, and as taken only if accepted."""
    from parley.agents.bargainer import menu_moves

    script = _menu_choices_script()
    scenario = {"id": "test-0-00003", "budget": 100.0, "listing_price": 150.0, "interest": "mutual",
                "product": {"id": "p"}}
    # listing-price opening (over budget), seller 140, a copy of 140 (over budget), seller 90, a copy of 90 (within)
    hostile = {"scenario": scenario, "turns": [
        _turn("buyer", "offer", 150.0, "offer"), _turn("seller", "offer", 140.0, "offer"),
        _turn("buyer", "offer", 140.0, "offer"), _turn("seller", "offer", 90.0, "offer"),
        _turn("buyer", "offer", 90.0, "offer"), _turn("seller", "accept", None, "accept")]}
    assert script.off_menu(hostile) == {"turns": 3, "off_menu": 3, "copies": 2, "copies_over": 1, "offers_over": 2,
                                        "listing_open": 1, "accept_listed": 1, "accepted_listed": 0}
    # the listing price later on is a copy of the seller's opening, not a listing-price opening
    late = {"scenario": scenario, "turns": [_turn("buyer", "offer", 50.0, "offer"), _turn("seller", "offer", 150.0,
                                                                                          "offer"),
                                            _turn("buyer", "offer", 150.0, "offer")]}
    assert script.off_menu(late)["listing_open"] == 0 and script.off_menu(late)["copies_over"] == 1
    # the same seller, a buyer that only copies menu moves: hold the anchor, split, accept
    turns, own, theirs = [], None, None
    for seller_price in (140.0, 90.0):
        move = menu_moves(own, theirs, 100.0, 150.0)[0 if own is None else 1]
        turns += [_turn("buyer", "offer", move.price, "offer"), _turn("seller", "offer", seller_price, "offer")]
        own, theirs = move.price, seller_price
    assert menu_moves(own, theirs, 100.0, 150.0)[-1].kind.value == "accept"
    turns.append(_turn("buyer", "accept", None, "accept"))
    careful = {"scenario": scenario, "turns": turns}
    assert script.episode_choices(careful) == ["hold", "split", "accept"]
    assert script.off_menu(careful) == {"turns": 3, "off_menu": 0, "copies": 0, "copies_over": 0, "offers_over": 0,
                                        "listing_open": 0, "accept_listed": 1, "accepted_listed": 1}
    assert script.scenario_index(careful) == 3
    # one first turn against two sellers in one scenario, two first turns in another
    other = {**scenario, "id": "test-0-00004"}
    assert script.first_turn_identity([hostile, careful, {"scenario": other, "turns": turns},
                                       {"scenario": other, "turns": turns}]) == (1, 2)


def test_menu_choices_first_keeps_the_first_scenarios_and_refuses_nonsense(tmp_path):
    """--first N: a 4-scenario suite's script output read through --first 2 is the 2-scenario suite's, row for row
    (scenario i is the same at any size); a folder without a suite and --first 0 are clear errors, not tracebacks."""
    import subprocess
    import sys

    from parley.evaluation.bargain_suite import SuiteConfig, run_suite

    for n in (2, 4):
        run_suite(SuiteConfig(buyer="scripted:menu", seller_model=None, scenarios=n, baselines=False, report=False,
                              out=tmp_path / f"s{n}"), show_progress=False)
    script = [sys.executable, "benchmarks/menu_choices.py"]
    small = subprocess.run([*script, f"{tmp_path / 's2'}:menu"], capture_output=True, text=True)
    cut = subprocess.run([*script, f"{tmp_path / 's4'}:menu", "--first", "2"], capture_output=True, text=True)
    whole = subprocess.run([*script, f"{tmp_path / 's4'}:menu"], capture_output=True, text=True)
    assert small.returncode == cut.returncode == whole.returncode == 0, cut.stderr
    assert cut.stdout == small.stdout != whole.stdout
    assert "- menu: 2 of 2" in cut.stdout and "- menu: 4 of 4" in whole.stdout  # a scripted buyer opens alike
    assert "| menu | " in cut.stdout and "| 0 | 0 (0) | 0 | 0 (0) | " in cut.stdout  # the teacher never leaves it
    for bad, says in (([f"{tmp_path / 's4'}", "--first", "0"], "--first must be at least 1"),
                      ([str(tmp_path)], "is not a `parley eval bargain` output folder")):
        out = subprocess.run([*script, *bad], capture_output=True, text=True)
        assert out.returncode != 0 and says in out.stderr and "Traceback" not in out.stderr


def test_accept_probe_scores_the_accept_opening_where_the_menu_lists_it(tmp_path, tiny_model_dir):
    """benchmarks/menu_accept_probe.py on the menu teacher's own warm-start examples: it counts exactly the prompts
    whose menu lists ACCEPT (every teacher accept is among them), and its probability is the model's, teacher-forced
    on prompt + accept text. A missing examples file and examples without an accept are refused with exit 2."""
    import importlib.util
    import json
    import statistics
    import subprocess
    import sys

    import torch

    from parley.environments.bargain import ProtocolConfig, Role
    from parley.environments.scenarios import ScenarioConfig
    from parley.models.loading import load_causal_lm
    from parley.training.warm_start import teacher_examples

    examples, _ = teacher_examples(["scripted:menu"], "scripted:linear", Role.BUYER, ProtocolConfig(max_turns=8),
                                   episodes=24, seed=0, scenario_config=ScenarioConfig(budget_rule="mixed", conflict_share=0.25),
                                   persona="menu.v2")
    path = tmp_path / "examples.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    spec = importlib.util.spec_from_file_location("menu_accept_probe", "benchmarks/menu_accept_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    prompts, accepted, text = probe.accept_prompts(examples)
    accepts = [e for e in examples if e["completion"][0]["content"].endswith("ACCEPT")]
    assert accepts and accepted == len(accepts) and text == accepts[0]["completion"][0]["content"]
    assert all(e["prompt"] in prompts for e in accepts) and len(prompts) < len(examples)
    assert all("| ACCEPT." in p[-1]["content"] for p in prompts)

    model, tokenizer = load_causal_lm(str(tiny_model_dir))
    scored = probe.accept_probabilities(model, tokenizer, prompts, text)
    head = tokenizer.apply_chat_template(prompts[0], add_generation_prompt=True, tokenize=False)
    ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    whole = tokenizer(head + text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0, len(ids) - 1]
    assert abs(scored[1.0][0] - float(torch.softmax(logits, -1)[whole[len(ids)]])) < 1e-5
    assert abs(scored[0.7][0] - float(torch.softmax(logits / 0.7, -1)[whole[len(ids)]])) < 1e-5

    script = [sys.executable, "benchmarks/menu_accept_probe.py"]
    ok = subprocess.run([*script, f"hf:{tiny_model_dir}=tiny", "--examples", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (f"| tiny | {len(prompts)} | {accepted / len(prompts):.2f} | {statistics.fmean(scored[1.0]):.3f} | "
            f"{statistics.fmean(scored[0.7]):.3f} |") in ok.stdout
    missing = subprocess.run([*script, f"hf:{tiny_model_dir}"], capture_output=True, text=True)
    assert missing.returncode == 2 and "is not a warm start's examples file" in missing.stderr
    none = tmp_path / "none.jsonl"
    none.write_text("".join(json.dumps(e) + "\n" for e in examples if e not in accepts))
    refused = subprocess.run([*script, f"hf:{tiny_model_dir}", "--examples", str(none)], capture_output=True, text=True)
    assert refused.returncode == 2 and "never accepted" in refused.stderr


def test_menu_choices_pools_a_mix_of_training_sellers_and_prints_the_held_out_validation(tmp_path):
    """--trained-on takes every seller of a mix (none of them counts as unseen), and --runs prints a run's validation
    against its held-out opponents (evaluation.opponents) beside the training opponents' when it has one."""
    import json
    import subprocess
    import sys

    from parley.evaluation.bargain_suite import SuiteConfig, run_suite

    run_suite(SuiteConfig(buyer="scripted:menu", seller_model=None, scenarios=3, baselines=False, report=False,
                          out=tmp_path / "s"), show_progress=False)
    mutual = {}
    for path in (tmp_path / "s" / "episodes").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            e = json.loads(line)
            if e["agents"]["buyer"] == "scripted:menu" and e["scenario"]["interest"] == "mutual":
                mutual[e["agents"]["seller"]] = mutual.get(e["agents"]["seller"], 0) + 1
    trained = ["scripted:linear", "scripted:boulware"]
    seen = sum(mutual.get(s, 0) for s in trained)
    assert seen and sum(mutual.values()) > seen
    shares = {"menu_hold": 0.5, "menu_split": 0.25, "menu_accept": 0.25, "menu_other": 0.0}
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": 0, "mean_reward": 0.1, "agreement_rate": 0.5, "menu_last_accept": 0.0, **shares,
             "heldout/mean_reward": -0.2, **{f"heldout/{k}": v / 2 for k, v in shares.items()}},
            {"step": 4, "mean_reward": 0.3, "agreement_rate": 0.5, "menu_last_accept": 0.0, **shares}]
    (run / "evals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([sys.executable, "benchmarks/menu_choices.py", f"{tmp_path / 's'}:menu", "--trained-on",
                          *trained, "--runs", str(run)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first, second = [line for line in out.stdout.splitlines() if line.startswith("| menu |")][:2]
    assert first.split(" | ")[1] == str(sum(mutual.values()) - seen) and second.split(" | ")[1] == str(seen)
    assert "against scripted:linear, scripted:boulware (trained against)" in out.stdout
    assert "| 0 | +0.100 | 0.50 | 0.50 / 0.25 / 0.25 / 0.00 | 0.00 | -0.200 | 0.25 / 0.12 / 0.12 / 0.00 |" in out.stdout
    assert "| 4 | +0.300 | 0.50 | 0.50 / 0.25 / 0.25 / 0.00 | 0.00 | – | – |" in out.stdout
