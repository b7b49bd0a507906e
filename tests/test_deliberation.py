"""Deliberation scenarios (schema, splits, provenance) and the agreement protocol."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from parley import ParleyError
from parley.environments.deliberation import DeliberationConfig, DeliberationEnv, DeliberationTurn, parse_move
from parley.environments.dilemmas import deduplicate, load_dilemmas, parse_dilemma
from parley.agents.rule_judge import verdict_v2
from code_helpers import stamped_by_this_code


def test_packaged_scenarios_are_many_valid_split_and_sourced():
    all_ = load_dilemmas()
    assert len(all_) >= 200
    splits = {s: load_dilemmas(s) for s in ("train", "validation", "test")}
    assert sum(len(v) for v in splits.values()) == len(all_) and all(splits.values())
    ids = [d.id for d in all_]
    assert len(set(ids)) == len(ids) and len(deduplicate(all_)) == len(all_)
    for d in all_:
        assert d.source["dataset"].startswith("MoralChoice") and d.source["license"] == "MIT" and d.source["record"]
        a, b = d.personas
        assert a.stance in d.options and b.stance in d.options and a.stance != b.stance
        assert any(b.stance in line for line in a.red_lines) and any(a.stance in line for line in b.red_lines)


def test_schema_errors_name_the_field(tmp_path):
    good = load_dilemmas()[0].model_dump(mode="json")
    bad = json.loads(json.dumps(good))
    bad["personas"][1]["stance"] = good["personas"][0]["stance"]
    with pytest.raises(ParleyError, match="same stance"):
        parse_dilemma(bad)
    bad = dict(good, split="holdout")
    with pytest.raises(ParleyError, match="split"):
        parse_dilemma(bad)
    bad = dict(good, surprise=1)
    with pytest.raises(ParleyError, match="surprise"):
        parse_dilemma(bad)
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(ParleyError, match=r"d.jsonl:2 is not valid JSON"):
        load_dilemmas(path=path)


def test_dedup_ignores_case_and_spacing():
    d = load_dilemmas()[0]
    twin = parse_dilemma(dict(d.model_dump(mode="json"), id="other", situation="  " + d.situation.upper() + " "))
    assert deduplicate([d, twin]) == [d]


@pytest.mark.parametrize("text, kind, number", [
    ("PROPOSAL: We both call the hospital together.", "propose", None),
    ("I like it. ACCEPT #2", "accept", 2),
    ("accept proposal 3", "accept", 3),
    ("ACCEPT", "accept", None),
    ("I cannot accept #1, it crosses my red line.", "message", None),
    ("Let's keep talking.", "message", None),
    ("ACCEPT #1. PROPOSAL: something else", "accept", 1),
    # the parser never invents an acceptance from the word in prose (a trained SmolLM2 wrote these)
    ("PROPOSAL: The decision to accept a decision that lets the student pass, with honesty.", "propose", None),
    ("We should accept that both of us care about the family.", "message", None),
    ("PROPOSAL: We accept the risk together. I accept #2 otherwise.", "accept", 2),
    ("Accept #2.", "accept", 2),
    ("accept", "accept", None),
    ("I accept proposal #4", "accept", 4),
    ("I can live with that. ACCEPT #1", "accept", 1),
    ("I will not accept that. ACCEPT would cross my red line.", "message", None),
])
def test_parse_move(text, kind, number):
    move = parse_move(text)
    assert move.kind == kind and move.number == number


_PROSE = st.lists(st.sampled_from(["we", "should", "accept", "accepted", "acceptable", "the", "decision", "to",
                                   "Accept", "family", "and", "care", ",", ".", "\n", "proposal", "PROPOSAL:"]),
                  min_size=1, max_size=25)


@given(words=_PROSE)
def test_prose_that_mentions_accepting_is_never_an_acceptance(words):
    """Without the upper-case tag, a proposal number after "accept", or "accept" as the turn's first word, no turn is
    read as an acceptance, whatever else it says: the parser never invents the move that ends a deliberation."""
    text = "I think " + " ".join(words)
    move = parse_move(text)
    assert move.kind != "accept", text
    assert move.kind == ("propose" if parse_move(text.replace("accept", "x").replace("Accept", "x")).kind == "propose"
                         else "message")


def _env(max_turns=6):
    env = DeliberationEnv(DeliberationConfig(max_turns=max_turns))
    env.reset(load_dilemmas("test")[0])
    return env


def test_agreement_needs_the_other_sides_exact_proposal_by_number():
    env = _env()
    assert env.step("PROPOSAL: Talk to the family first, then decide together.").proposal == 1
    assert env.step("PROPOSAL: Decide today with a doctor present.").proposal == 2
    refused = env.step("ACCEPT #1")  # speaker 0 accepting its own proposal
    assert refused.effect == "refused" and "your own" in refused.notice and not env.done
    assert env.observe(0).notices == (refused.notice,) and env.observe(1).notices == ()
    assert env.step("ACCEPT #7").effect == "refused" and not env.done  # no such proposal
    accepted = env.step("ACCEPT #2")  # speaker 0 accepts speaker 1's proposal
    assert accepted.effect == "accept" and env.done
    assert env.outcome.agreed and env.outcome.proposal.text == "Decide today with a doctor present."
    assert env.outcome.proposal.by == 1 and env.outcome.turns == 5


def test_no_agreement_at_the_turn_limit_and_vague_agreement_does_not_count():
    env = _env(max_turns=4)
    env.step("PROPOSAL: Share the decision.")
    env.step("I agree with you completely!")
    env.step("Great, so we agree.")
    env.step("ACCEPT")  # no number
    assert env.done and not env.outcome.agreed and env.outcome.reason == "max_turns"
    with pytest.raises(RuntimeError):
        env.step("more")


@given(st.lists(st.text(max_size=80), min_size=1, max_size=12))
def test_any_text_keeps_the_protocol_consistent(texts):
    env = _env(max_turns=12)
    for text in texts:
        if env.done:
            break
        env.step(text)
    if env.done and env.outcome.agreed:
        p = env.outcome.proposal
        last = env.turns[-1]
        assert last.effect == "accept" and last.speaker != p.by and env.proposals[p.number - 1] == p
    assert all(t.speaker == i % 2 for i, t in enumerate(env.turns))


def test_scripted_self_play_reaches_judged_agreements_deterministically():
    from parley.agents.deliberator import ScriptedDeliberator
    from parley.agents.judge import RuleJudge
    from parley.rollout.deliberation import run_deliberations, with_verdicts

    dilemmas = load_dilemmas("test")[:5]
    agents = (ScriptedDeliberator(patience=1), ScriptedDeliberator(patience=1))
    # Rubric v1 pays the scripted template 8; v2 calls it vague (tests/test_rubric_v2.py): either way the verdict
    # reaches the episode.
    episodes = with_verdicts(run_deliberations(dilemmas, agents, DeliberationConfig(max_turns=6), seed=1), RuleJudge(1))
    for e in episodes:
        assert e.outcome.agreed and e.outcome.turns == 3  # propose #1, propose #2, accept #2
        assert e.outcome.proposal.by == 1 and e.outcome.proposal.number == 2 and e.turns[-1].speaker == 0
        assert e.verdict["score"] >= 6 and e.score == e.verdict["score"]
    v2 = with_verdicts(run_deliberations(dilemmas, agents, DeliberationConfig(max_turns=6), seed=1), RuleJudge())
    assert all(e.score == 0.0 and "vague" in e.verdict["rationale"] for e in v2)
    stubborn = (ScriptedDeliberator(patience=99), ScriptedDeliberator(patience=99))
    none = with_verdicts(run_deliberations(dilemmas, stubborn, DeliberationConfig(max_turns=4)), RuleJudge())
    assert all(not e.outcome.agreed and e.score == 0.0 and e.verdict is None for e in none)
    again = run_deliberations(dilemmas, agents, DeliberationConfig(max_turns=6), seed=1)
    assert [e.to_dict()["turns"] for e in again] == [e.to_dict()["turns"] for e in episodes]


def test_a_side_that_copies_the_others_proposal_is_counted_as_a_mirrored_deadlock():
    """Only an ACCEPT makes an agreement: a side that re-proposes the other's text verbatim agrees in substance and
    not by the protocol. The arena counts such deadlocks, and only those."""
    from parley.agents.deliberator import ScriptedDeliberator
    from parley.agents.judge import RuleJudge
    from parley.evaluation.deliberation_arena import mirrored_deadlock, summarize_deliberations
    from parley.rollout.deliberation import DeliberationEpisode, run_deliberations, with_verdicts

    class Mirror:
        name = "mirror"

        def act(self, observations, seed=0):
            return [obs.history[-1][1] for obs in observations]  # the other side's last turn, word for word

    dilemmas = load_dilemmas("test")[:4]
    stubborn = ScriptedDeliberator(patience=99, proposal="stance")
    config = DeliberationConfig(max_turns=4)
    mirrored = with_verdicts(run_deliberations(dilemmas, (stubborn, Mirror()), config), RuleJudge())
    assert all(not e.outcome.agreed for e in mirrored)
    assert summarize_deliberations(mirrored)["mirrored_deadlocks"] == 4
    both = ScriptedDeliberator(patience=99)  # each proposes its own joint plan, values in its own order: no mirror
    apart = with_verdicts(run_deliberations(dilemmas, (both, both), config), RuleJudge())
    assert summarize_deliberations(apart)["mirrored_deadlocks"] == 0
    agreed = with_verdicts(run_deliberations(dilemmas, (ScriptedDeliberator(patience=1),) * 2, config), RuleJudge())
    assert all(e.outcome.agreed for e in agreed) and summarize_deliberations(agreed)["mirrored_deadlocks"] == 0
    assert all(mirrored_deadlock(e) for e in mirrored) and not any(mirrored_deadlock(e) for e in apart + agreed)
    # benchmarks read the same test back from episodes.jsonl
    assert all([DeliberationTurn.from_dict(t.to_dict()) for t in e.turns] == e.turns for e in mirrored + agreed)

    def played(*texts):
        env = DeliberationEnv(DeliberationConfig(max_turns=len(texts)))
        env.reset(dilemmas[0])
        for text in texts:
            env.step(text)
        return DeliberationEpisode("x", dilemmas[0], env.turns, env.outcome, ["a", "b"])

    # the proposal is what counts, not the words around it; a quoted proposal in a message is not one
    assert mirrored_deadlock(played("PROPOSAL: A  plan.", "Fine by me. proposal: a plan."))
    assert not mirrored_deadlock(played("PROPOSAL: A plan.", 'You said "PROPOSAL A plan."'))
    assert not mirrored_deadlock(played("PROPOSAL: A plan.", "PROPOSAL: A plan.", "PROPOSAL: Another plan."))


def test_llm_deliberator_prompts_carry_persona_proposals_and_notices(tiny_backend):
    from parley.models.generation import GenerationSettings
    from parley.agents.deliberator import DeliberationLLMAgent
    from parley.rollout.deliberation import run_deliberations

    agent = DeliberationLLMAgent("tiny", tiny_backend, GenerationSettings(max_new_tokens=6))
    d = load_dilemmas("test")[0]
    env = DeliberationEnv(DeliberationConfig(max_turns=6))
    env.reset(d)
    env.step("PROPOSAL: share the decision")
    env.step("ACCEPT #1")  # speaker 1 accepts speaker 0's proposal: agreement
    assert env.done
    env.reset(d)
    env.step("ACCEPT #3")
    msgs = agent.messages(env.observe(1))
    assert d.personas[1].name in msgs[0]["content"] and d.personas[1].red_lines[0] in msgs[0]["content"]
    assert msgs[-1]["role"] == "user" and "ACCEPT #3" in msgs[-1]["content"]
    msgs0 = agent.messages(env.observe(0))
    assert "not counted" in msgs0[-1]["content"]
    episodes = run_deliberations([d, d], (agent, agent), DeliberationConfig(max_turns=4), seed=0)
    assert all(len(e.turns) >= 1 for e in episodes) and episodes[0].prompts["0"].startswith("deliberator.v")


def test_deliberation_arena_cli_with_scripted_agents(tmp_path):
    from typer.testing import CliRunner

    from parley.cli.main import app

    out = tmp_path / "d"
    result = CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:deliberator",
                                      "--judge", "scripted:rules#v1", "--episodes", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agreement_rate"] == 1.0 and summary["ca_score_mean"] >= 6
    assert stamped_by_this_code(summary["config"])
    assert summary["judge"]["rubric"] == "judge_collective_agency.rules" and summary["red_line_rate"] == 0.0
    assert summary["judge"]["requests"] == 6 and summary["red_line_violations"] == {"persona_0": 0, "persona_1": 0}
    lines = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and len({line["id"] for line in lines}) == 6
    bad = CliRunner().invoke(app, ["arena", "--env", "deliberation", "--judge", "scripted:nobody", "--out", str(out)])
    assert bad.exit_code == 2 and "judge" in bad.output
    bad = CliRunner().invoke(app, ["arena", "--env", "deliberation", "--judge", "scripted:rules#v7", "--out", str(out)])
    assert bad.exit_code == 2 and "#v1, #v2" in bad.output


def test_the_arena_says_what_a_rule_judges_red_line_count_is_and_not_an_llm_judges(tmp_path):
    """The rule judge's red-line verdicts miss an option written in other words (docs/audits): the arena table says
    so under the rule judge, any rubric version, and not under a language-model judge."""
    from fake_openai import FakeOpenAIServer
    from typer.testing import CliRunner

    from parley.cli.main import app

    from parley.evaluation.deliberation_arena import result_rows

    def table(judge: str) -> tuple[str, dict]:
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        result = CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:deliberator", "--judge",
                                          judge, "--episodes", "2", "--out", str(out)])
        assert result.exit_code == 0, result.output
        return result.output, dict(result_rows(json.loads((out / "summary.json").read_text())))

    caveat = "word matches only"
    for judge in ("scripted:rules", "scripted:rules#v1"):
        printed, rows = table(judge)
        assert "red-line verdicts" in printed and rows["red-line verdicts (docs/audits)"] == caveat
    verdict = json.dumps({"score": 6, "red_line_violations": [], "resolves_conflict": True, "rationale": "fine"})
    with FakeOpenAIServer(reply=verdict) as server:
        printed, rows = table(f"openai:fake-model@{server.base_url}")
    assert "red-line verdicts" not in printed and caveat not in rows.values() and "red-line violations" in rows


def test_arena_against_an_opponent_reports_whose_proposal_and_whose_red_line(tmp_path):
    """scripted:deliberator accepts the latest proposal after one turn of its own: as persona 0 it accepts the stance
    opponent's proposal (its own red line), as persona 1 the opponent accepts its plan. The agent-side figures must
    say so, and match a recount from the episodes with the agent's persona taken from each half."""
    from typer.testing import CliRunner

    from parley.cli.main import app

    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:deliberator", "--opponent",
                                      "scripted:stance", "--episodes", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "crossing the agent's red line" in result.output
    side = json.loads((out / "summary.json").read_text())["agent_side"]
    lines = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    sides = [lines[i]["agents"].index("scripted:deliberator") for i in range(6)]
    assert sides == [0, 0, 0, 1, 1, 1] and [e["agent_side"] for e in lines] == sides  # the episode says it too
    own = [e["outcome"]["proposal"]["by"] == s for e, s in zip(lines, sides)]
    mine = [e["dilemma"]["personas"][s]["name"] in e["verdict"]["red_line_violations"] for e, s in zip(lines, sides)]
    assert side["agreed_on_own_proposal_rate"] == sum(own) / 6 == 0.5
    assert side["own_red_line_rate"] == sum(mine) / 6 == 0.5 and side["opponent_red_line_rate"] == 0.0
    assert own == [False] * 3 + [True] * 3  # it yields as persona 0, prevails as persona 1
    # persona 0 speaks first here: the seats say where it yields, and the printed table says it too
    assert side["seats"] == {
        "agent_speaks_first": {"episodes": 3, "agreements": 3, "on_own_proposal": 0, "crossing_own_red_line": 3},
        "opponent_speaks_first": {"episodes": 3, "agreements": 3, "on_own_proposal": 3, "crossing_own_red_line": 0}}
    assert "agent first: agreed, own proposal, own red line" in result.output and "3, 0, 3 of 3" in result.output
    assert [e["turns"][0]["speaker"] for e in lines] == [0] * 6
    selfplay = tmp_path / "s"
    assert CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:stance", "--episodes", "2",
                                    "--out", str(selfplay)]).exit_code == 0
    assert "agent_side" not in json.loads((selfplay / "summary.json").read_text())  # self-play has no sides
    assert all(json.loads(line)["agent_side"] is None for line in (selfplay / "episodes.jsonl").read_text().splitlines())


def test_the_seeds_table_keeps_opponents_apart_and_prints_the_agents_side(tmp_path):
    """benchmarks/deliberation_seeds.py, the docs' deliberation tables: a run against an opponent gets the agent's side
    by seat, and it refuses to put a self-play row and an opponent row in one table (they measure different things)."""
    import subprocess
    import sys

    from typer.testing import CliRunner

    from parley.cli.main import app

    for name, extra in (("vs", ["--opponent", "scripted:stance"]), ("self", [])):
        assert CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:deliberator", *extra,
                                        "--episodes", "4", "--out", str(tmp_path / name)]).exit_code == 0
    script = [sys.executable, "benchmarks/deliberation_seeds.py"]
    ok = subprocess.run([*script, f"{tmp_path / 'vs'}:template"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "against scripted:stance" in ok.stdout
    assert "| template | 0.50 [0.00, 1.00] | 0.50 [0.00, 1.00] | 0.00 [0.00, 0.00] | 2, 0, 2 of 2 | 2, 2, 0 of 2 |" in ok.stdout
    mixed = subprocess.run([*script, f"{tmp_path / 'vs'}:a", f"{tmp_path / 'self'}:b"], capture_output=True, text=True)
    assert mixed.returncode != 0 and "self-play and an opponent go in separate tables" in mixed.stderr
    alone = subprocess.run([*script, f"{tmp_path / 'self'}:b"], capture_output=True, text=True)
    assert alone.returncode == 0 and "the agent's side" not in alone.stdout and "self-play" in alone.stdout


def test_the_acceptance_table_judges_every_proposal_and_pairs_it_with_the_reply(tmp_path):
    """benchmarks/deliberation_acceptance.py: scripted:deliberator (patience 1) against scripted:stance. Each side
    proposes once; the second proposal is accepted on the next turn, the first never. Where the stance speaks second
    its red-line proposal is the accepted one, where it speaks first the joint plan is: 2 of 4 crossing proposals
    and 2 of 4 clean ones accepted at once. The CIs resample dilemmas."""
    import subprocess
    import sys

    from typer.testing import CliRunner

    from parley.cli.main import app

    assert CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:deliberator", "--opponent",
                                    "scripted:stance", "--episodes", "4", "--out", str(tmp_path / "vs")]).exit_code == 0
    script = [sys.executable, "benchmarks/deliberation_acceptance.py"]
    ok = subprocess.run([*script, f"{tmp_path / 'vs'}:template"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # every deliberation holds one crossing proposal and one clean one, so resampling dilemmas (the default) cannot
    # move the crossing share off 0.50, where resampling the 8 proposals one by one (--ci proposal) pretends it can
    assert ("| template | 8 | 0.50 [0.50, 0.50] (of 8) | 0.50 [0.00, 1.00] (of 4) | 0.50 [0.00, 1.00] (of 4) |"
            in ok.stdout)
    loose = subprocess.run([*script, f"{tmp_path / 'vs'}:template", "--ci", "proposal"], capture_output=True, text=True)
    assert ("| template | 8 | 0.50 [0.12, 0.88] (of 8) | 0.50 [0.00, 1.00] (of 4) | 0.50 [0.00, 1.00] (of 4) |"
            in loose.stdout), loose.stderr
    missing = subprocess.run([*script, str(tmp_path)], capture_output=True, text=True)
    assert missing.returncode == 2 and "not a deliberation arena folder" in missing.stderr
    # one side's proposals: the stance's are all crossing, and the template accepts 2 of 4 (those it met second)
    theirs = subprocess.run([*script, f"{tmp_path / 'vs'}:template", "--proposer", "opponent"], capture_output=True,
                            text=True)
    assert "| template | 4 | 1.00 [1.00, 1.00] (of 4) | 0.50 [0.00, 1.00] (of 4) | n/a |" in theirs.stdout, theirs.stderr
    mine = subprocess.run([*script, f"{tmp_path / 'vs'}:template", "--proposer", "agent"], capture_output=True, text=True)
    assert "| template | 4 | 0.00 [0.00, 0.00] (of 4) | n/a | 0.50 [0.00, 1.00] (of 4) |" in mine.stdout, mine.stderr
    assert CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:stance", "--episodes", "2",
                                    "--out", str(tmp_path / "self")]).exit_code == 0
    selfplay = subprocess.run([*script, str(tmp_path / "self"), "--proposer", "agent"], capture_output=True, text=True)
    assert selfplay.returncode == 2 and "needs an arena run with --opponent" in selfplay.stderr
    assert selfplay.stdout == ""  # no half table before the refusal


def test_red_line_audit_puts_the_judges_crossings_beside_a_readers_and_refuses_labels_of_other_transcripts(tmp_path):
    """benchmarks/red_line_audit.py on a scripted arena (template against stance: 2 agreements on the stance, which the
    judge calls crossings, 2 on the joint plan). A reader who agrees with the judge on one of each and disagrees on the
    other two gives judge 2 of 4, reader 2 of 4, recall 1 of 2 and precision 1 of 2. Labels for another folder's text,
    an agreement left unlabelled and a malformed line are refused with exit 2 and no half table."""
    import subprocess
    import sys

    from typer.testing import CliRunner

    from parley.cli.main import app

    assert CliRunner().invoke(app, ["arena", "--env", "deliberation", "--agent", "scripted:deliberator", "--opponent",
                                    "scripted:stance", "--episodes", "4", "--out", str(tmp_path / "vs")]).exit_code == 0
    episodes = [json.loads(line) for line in (tmp_path / "vs" / "episodes.jsonl").read_text().splitlines()]
    agreed = [e for e in episodes if e["outcome"]["agreed"]]
    crossing = [e for e in agreed if e["verdict"]["red_line_violations"]]
    clean = [e for e in agreed if not e["verdict"]["red_line_violations"]]
    assert len(crossing) == 2 and len(clean) == 2
    reader = {crossing[0]["id"]: True, crossing[1]["id"]: False, clean[0]["id"]: True, clean[1]["id"]: False}

    def write(rows, name="labels.jsonl"):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    rows = [{"run": "vs", "episode": e["id"], "dilemma": e["dilemma"]["id"], "agreement": e["outcome"]["proposal"]["text"],
             "reader_crossing": reader[e["id"]], "reader_note": ""} for e in agreed]
    script = [sys.executable, "benchmarks/red_line_audit.py"]
    ok = subprocess.run([*script, write(rows), f"{tmp_path / 'vs'}=vs:scripted"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ("| scripted | 4 | 0.50 [0.00, 1.00] (2 of 4) | 0.50 [0.00, 1.00] (2 of 4) | 1 | 1 | 1 | "
            "0.50 [0.00, 1.00] (1 of 2) | 0.50 [0.00, 1.00] (1 of 2) |") in ok.stdout
    other = [dict(r, agreement=r["agreement"] + " And more.") if r["episode"] == agreed[0]["id"] else r for r in rows]
    for labels, spec, message in (
            (write(other, "other.jsonl"), f"{tmp_path / 'vs'}=vs", "the labels were made on other transcripts"),
            (write(rows[1:], "short.jsonl"), f"{tmp_path / 'vs'}=vs", f"no label for the agreement of episode {agreed[0]['id']}"),
            (write(rows), f"{tmp_path / 'vs'}=elsewhere", "run 'elsewhere' has no label"),
            (write(rows), f"{tmp_path / 'vs'}", "write FOLDER=RUN[:LABEL]"),
            (write([dict(rows[0], reader_crossing="yes")], "typed.jsonl"), f"{tmp_path / 'vs'}=vs",
             "typed.jsonl:1: missing or mistyped field(s) reader_crossing"),
            (write(rows + rows[:1], "twice.jsonl"), f"{tmp_path / 'vs'}=vs", "is labelled twice")):
        refused = subprocess.run([*script, labels, spec], capture_output=True, text=True)
        assert refused.returncode == 2 and message in refused.stderr, (message, refused.stderr)
        assert refused.stdout == "" and "Traceback" not in refused.stderr

    # an agreement the arena's judge gave no verdict is counted as no crossing, and said
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "episodes.jsonl").write_text("".join(
        json.dumps(dict(e, verdict=dict(e["verdict"], score=None, red_line_violations=[])) if e["id"] == crossing[0]["id"]
                   else e) + "\n" for e in episodes))
    out = subprocess.run([*script, write(rows), f"{failed}=vs"], capture_output=True, text=True)
    assert out.returncode == 0 and "the judge gave no verdict on 1 of 4 agreements (counted as no crossing)" in out.stderr
    assert "| vs | 4 | 0.25 [0.00, 0.75] (1 of 4) |" in out.stdout
    # --judge: the labelled texts judged again. The rule judge gives the verdicts the arena stored, row for row.
    rejudged = subprocess.run([*script, write(rows), "--judge", "scripted:rules"], capture_output=True, text=True)
    assert rejudged.returncode == 0, rejudged.stderr
    assert ok.stdout.splitlines()[2].split("|")[2:] == rejudged.stdout.splitlines()[2].split("|")[2:]
    assert "| vs, scripted:rules | 4 |" in rejudged.stdout
    for args, message in (([write(rows)], "one of the three"),
                          ([write(rows), f"{tmp_path / 'vs'}=vs", "--judge", "scripted:rules"], "one of the three"),
                          ([write(rows), "--judge", "scripted:rules#v7"], "invalid judge 'scripted:rules#v7'"),
                          ([write([dict(rows[0], dilemma="moralchoice-X_999")], "gone.jsonl"), "--judge", "scripted:rules"],
                           "moralchoice-X_999 are not among the packaged dilemmas")):
        refused = subprocess.run([*script, *args], capture_output=True, text=True)
        assert refused.returncode == 2 and message in refused.stderr, (message, refused.stderr)
        assert refused.stdout == "" and "Traceback" not in refused.stderr


def test_two_readings_of_the_same_agreements_are_compared_by_raw_agreement_and_kappa(tmp_path):
    """`red_line_audit.py LABELS --agreement OTHER`: 4 agreements read twice, the readings differing on one (crossings
    1 and 2): 3 of 4 alike, chance agreement 0.5, kappa 0.50; the one that differs is listed with the second note.
    Readings of other texts, or of no common agreement, are refused."""
    import subprocess
    import sys

    d = load_dilemmas("test")[0]
    first = [{"run": "r", "episode": f"e{i}", "dilemma": d.id, "agreement": f"text {i}", "reader_crossing": i == 0,
              "reader_note": ""} for i in range(4)]
    second = [dict(row, reader_crossing=row["episode"] in ("e0", "e1"),
                   reader_note="adopts it after all" if row["episode"] == "e1" else "") for row in first]

    def write(rows, name):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    script = [sys.executable, "benchmarks/red_line_audit.py", write(first, "first.jsonl"), "--agreement"]
    out = subprocess.run([*script, write(second, "second.jsonl")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "4 agreements read twice: same label on 3 (0.75); crossings 1 in the first reading, 2 in the second; "
        "Cohen's kappa 0.50",
        "r e1: first False, second True; adopts it after all"]
    for rows, message in (([dict(second[0], agreement="other text")], "not of the same agreements"),
                          ([dict(second[0], run="elsewhere")], "share no labelled agreement")):
        refused = subprocess.run([*script, write(rows, "bad.jsonl")], capture_output=True, text=True)
        assert refused.returncode == 2 and message in refused.stderr and refused.stdout == ""
    both = subprocess.run([*script, write(second, "second.jsonl"), "--judge", "scripted:rules"], capture_output=True,
                          text=True)
    assert both.returncode == 2 and "one of the three" in both.stderr


def test_the_shipped_red_line_reading_is_well_formed():
    """docs/audits/red_line_reading.jsonl, the reader's labels the docs quote: every line has its fields, no episode is
    labelled twice, and every agreement the reader calls a crossing names the option it adopts (reader_note)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("red_line_audit", "benchmarks/red_line_audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    labels = module.load_labels(Path("docs/audits/red_line_reading.jsonl"))
    assert labels and {run for run, _ in labels} >= {"v2prop-seed0-final", "v3prop-seed0-final"}
    assert all(row["reader_note"] for row in labels.values() if row["reader_crossing"])
    # the second reading is of agreements of the first, text for text
    again = module.load_labels(Path("docs/audits/red_line_rereading.jsonl"))
    assert again and all(key in labels and labels[key]["agreement"] == row["agreement"] for key, row in again.items())
    # the solo finals of stop 44, read the same way, in a file of their own
    solo = module.load_labels(Path("docs/audits/red_line_reading_solo.jsonl"))
    assert {run for run, _ in solo} == {f"v2solo-seed{s}-final" for s in range(3)} and not set(solo) & set(labels)
    assert all(row["reader_note"] for row in solo.values() if row["reader_crossing"])
    # where the reader rejects a crossing the rule judge reports, the note says why
    dilemmas = {d.id: d for d in load_dilemmas()}
    for row in [*labels.values(), *solo.values()]:
        if verdict_v2(dilemmas[row["dilemma"]], row["agreement"]).red_line_violations and not row["reader_crossing"]:
            assert row["reader_note"], row["episode"]


def test_a_judges_red_line_verdicts_are_scored_against_the_readers_through_an_openai_compatible_server(tmp_path):
    """`red_line_audit.py --judge openai:...` asks the judge about every labelled agreement. A judge that calls every
    agreement a crossing has recall 1 and precision equal to the reader's rate; one whose answers cannot be read gets
    no verdicts, which the script says, and counts as reporting none."""
    import subprocess
    import sys

    from fake_openai import FakeOpenAIServer

    d = load_dilemmas("test")[0]
    rows = [{"run": "r", "episode": f"e{i}", "dilemma": d.id, "agreement": f"We do thing number {i} together.",
             "reader_crossing": i < 1, "reader_note": "adopts an option" if i < 1 else ""} for i in range(4)]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    script = [sys.executable, "benchmarks/red_line_audit.py", str(labels), "--judge"]
    crossing = json.dumps({"score": 0, "red_line_violations": [d.personas[0].name], "resolves_conflict": False,
                           "rationale": "adopts the other's stance"})
    with FakeOpenAIServer(reply=crossing) as server:
        out = subprocess.run([*script, f"openai:fake-model@{server.base_url}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert ("| 4 | 1.00 [1.00, 1.00] (4 of 4) | 0.25 [0.00, 0.75] (1 of 4) | 1 | 3 | 0 | 1.00 [1.00, 1.00] (1 of 1) | "
            "0.25 [0.00, 0.75] (1 of 4) |") in out.stdout
    with FakeOpenAIServer(reply="no idea") as server:
        out = subprocess.run([*script, f"openai:fake-model@{server.base_url}"], capture_output=True, text=True)
    assert out.returncode == 0 and "4 of 4 agreements got no verdict (counted as no crossing)" in out.stderr
    assert "| 4 | 0.00 [0.00, 0.00] (0 of 4) | 0.25 [0.00, 0.75] (1 of 4) | 0 | 0 | 1 | 0.00 [0.00, 0.00] (0 of 1) | n/a |" in out.stdout


def test_the_arena_resamples_dilemmas_not_their_two_deliberations():
    """An arena plays each dilemma twice (the agent once as each persona). Two deliberations of one dilemma that went
    alike are one dilemma's evidence, not two: the summary's CIs over such a run must be those of one deliberation
    per dilemma, where resampling episodes one by one would give a narrower interval."""
    from parley.agents.deliberator import ScriptedDeliberator
    from parley.agents.judge import RuleJudge
    from parley.evaluation.deliberation_arena import summarize_deliberations
    from parley.evaluation.stats import bootstrap_ci
    from parley.rollout.deliberation import run_deliberations, with_verdicts

    dilemmas = load_dilemmas("test")[:12]
    config = DeliberationConfig(max_turns=4)
    agrees, holds = ScriptedDeliberator(patience=1), ScriptedDeliberator(patience=99)
    once = [e for i, d in enumerate(dilemmas)  # a spread: a third of the dilemmas end without agreement
            for e in run_deliberations([d], (holds, holds) if i % 3 == 0 else (agrees, agrees), config)]
    once = with_verdicts(once, RuleJudge())
    twice = once + once
    one, two = summarize_deliberations(once), summarize_deliberations(twice)
    assert 0 < one["agreement_rate"] < 1 and two["agreement_rate"] == one["agreement_rate"]
    for key in ("agreement_rate_ci95", "ca_score_ci95", "red_line_rate_ci95"):
        assert two[key] == pytest.approx(one[key], abs=1e-9), key
    naive = bootstrap_ci([float(e.outcome.agreed) for e in twice])
    assert naive[1] - naive[0] < two["agreement_rate_ci95"][1] - two["agreement_rate_ci95"][0]
