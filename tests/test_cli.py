import json

from typer.testing import CliRunner

from parley.cli.main import app
from code_helpers import stamped_by_this_code

runner = CliRunner()


def run(*args, **kw):
    return runner.invoke(app, [str(a) for a in args], **kw)


def test_arena_with_scripted_agents_writes_everything(tmp_path):
    out = tmp_path / "run"
    result = run("arena", "--buyer", "scripted:linear", "--seller", "scripted:conceder", "--episodes", 12,
                 "--seed", 3, "--out", out)
    assert result.exit_code == 0, result.output
    assert "agreement rate" in result.output
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 12
    ep = json.loads(lines[0])
    assert {"scenario", "turns", "outcome", "reward", "agents"} <= set(ep)
    assert ep["scenario"]["budget"] > ep["scenario"]["floor"]
    assert ep["turns"][0]["action"]["kind"] in ("offer", "accept", "walk", "none")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 12 and summary["config"]["seed"] == 3
    assert stamped_by_this_code(summary["config"])  # the commit and libraries that played it
    deals = [json.loads(l) for l in lines if json.loads(l)["outcome"]["deal"]]
    assert summary["agreement_rate"] == len(deals) / 12
    html = (out / "report.html").read_text()
    for png in ("price_vs_budget_floor.png", "surplus.png", "rounds.png", "agreement_by_category.png"):
        assert (out / png).stat().st_size > 1000 and png in html


def test_same_seed_same_episodes(tmp_path):
    for name in ("a", "b"):
        assert run("arena", "--buyer", "scripted:boulware", "--seller", "scripted:tit-for-tat", "--episodes", 5,
                   "--out", tmp_path / name, "--no-report").exit_code == 0
    assert (tmp_path / "a" / "episodes.jsonl").read_text() == (tmp_path / "b" / "episodes.jsonl").read_text()


def test_unknown_agent_is_one_line_error_without_traceback(tmp_path):
    result = run("arena", "--buyer", "gpt9", "--out", tmp_path)
    assert result.exit_code == 2
    assert "invalid arena buyer 'gpt9': unknown agent 'gpt9'; the arena buyer must be smollm2" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_split_and_human_in_arena_are_clear_errors(tmp_path):
    result = run("arena", "--buyer", "scripted:linear", "--split", "dev", "--out", tmp_path)
    assert result.exit_code == 2 and "unknown split 'dev'" in result.output
    result = run("arena", "--buyer", "human", "--out", tmp_path)
    assert result.exit_code == 2 and "parley play" in result.output


def test_unloadable_model_is_a_clear_error(tmp_path):
    result = run("arena", "--buyer", f"hf:{tmp_path / 'missing'}", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "could not load model" in result.output and "Traceback" not in result.output


def test_play_against_a_scripted_seller(tmp_path):
    # Open low, then accept whatever the seller offers next.
    result = run("play", "--seller", "scripted:conceder", "--seed", 1, input="I like it. OFFER: $1\nACCEPT\n")
    assert result.exit_code == 0, result.output
    assert "your private budget" in result.output
    assert "deal at $" in result.output and "your surplus" in result.output


def test_play_ends_cleanly_when_input_ends():
    result = run("play", "--seller", "scripted:hardliner", input="OFFER: $5\n")
    assert result.exit_code == 0, result.output
    assert "no deal (walked_away)" in result.output


def test_catalog_lists_categories():
    result = run("catalog")
    assert result.exit_code == 0 and "electronics" in result.output and "test" in result.output


def test_play_a_refusal_with_accept_in_capitals_closes_no_deal():
    # issue 16: typed as a person would, this closed a deal over budget with the old parser
    result = run("play", "--seller", "scripted:hardliner", input="No, I will not ACCEPT that price.\nWALK AWAY\n")
    assert result.exit_code == 0, result.output
    assert "no deal (walked_away)" in result.output and "deal at $" not in result.output


def test_play_strict_tells_the_person_about_a_format_error(repo_root):
    result = run("play", "--seller", "scripted:hardliner", "--parser", "strict",
                 "--catalog", repo_root / "examples" / "catalog.csv", input="I can offer $5 for it.\nWALK AWAY\n")
    assert result.exit_code == 0, result.output
    assert "Format error" in result.output


def test_arena_options_a_game_does_not_take_are_refused():
    result = run("arena", "--env", "casino", "--agent", "scripted:fair", "--parser", "strict")
    assert result.exit_code != 0 and "--parser does not apply to --env casino" in result.output


def test_catalog_checks_a_user_file(repo_root, tmp_path):
    result = run("catalog", "--catalog", repo_root / "examples" / "catalog.csv")
    assert result.exit_code == 0 and "40" in result.output
    bad = tmp_path / "c.csv"
    bad.write_text("title,category,listing_price,floor\nLamp,home,100,abc\n")
    result = run("catalog", "--catalog", bad)
    assert result.exit_code != 0 and "line 2, field 'floor'" in result.output


def test_arena_budget_rule_and_reward_reach_the_summary(tmp_path):
    result = run("arena", "--buyer", "scripted:linear", "--seller", "scripted:linear", "--episodes", 6,
                 "--budget-rule", "mixed", "--reward", "paper", "--parser", "strict", "--out", tmp_path, "--no-report")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["protocol"]["parser"] == "strict" and summary["config"]["protocol"]["reward"] == "paper"
    assert summary["metrics"]["conflicting"]["episodes"] == 3 and "CI rational exit" in result.output
    bad = run("arena", "--buyer", "scripted:linear", "--budget-rule", "half", "--out", tmp_path / "x")
    assert bad.exit_code != 0 and "unknown budget rule" in bad.output


def test_arena_engine_continuous_plays_the_lockstep_greedy_episodes(tmp_path, tiny_model_dir):
    texts = {}
    for engine in ("lockstep", "continuous"):
        result = run("arena", "--buyer", f"hf:{tiny_model_dir}", "--seller", "scripted:boulware", "--episodes", 4,
                     "--max-turns", 4, "--max-new-tokens", 8, "--greedy", "--batch-size", 2, "--engine", engine,
                     "--out", tmp_path / engine, "--no-report")
        assert result.exit_code == 0, result.output
        episodes = [json.loads(l) for l in (tmp_path / engine / "episodes.jsonl").read_text().splitlines()]
        texts[engine] = [[t["text"] for t in e["turns"]] for e in episodes]
        assert json.loads((tmp_path / engine / "summary.json").read_text())["config"]["engine"] == engine
    assert texts["continuous"] == texts["lockstep"]
    bad = run("arena", "--buyer", "scripted:linear", "--engine", "warp", "--out", tmp_path / "x")
    assert bad.exit_code == 2 and "unknown engine 'warp'" in bad.output and "Traceback" not in bad.output
    casino = run("arena", "--env", "casino", "--agent", "scripted:fair", "--engine", "continuous")
    assert casino.exit_code != 0 and "--engine does not apply to --env casino" in casino.output
