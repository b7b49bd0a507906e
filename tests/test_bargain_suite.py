"""``parley eval bargain``: the versioned suite, its baselines, its files and its errors (issue 16)."""

import json

import pytest

from typer.testing import CliRunner

from parley import ParleyError
from parley.cli.main import app
from parley.evaluation.bargain_suite import SUITE, SUITE_VERSION, SuiteConfig, markdown_table, run_suite
from code_helpers import stamped_by_this_code

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_scripted_suite_has_every_seller_every_baseline_and_both_interests(tmp_path):
    result = run_suite(SuiteConfig(buyer="scripted:linear", seller_model=None, scenarios=8, rollouts=3, out=tmp_path),
                       show_progress=False)
    s = result.summary
    assert s["suite_version"] == SUITE_VERSION and s["suite"] == SUITE and not s["llm_sellers"]
    assert s["scenario_mix"] == {"mutual": 4, "conflicting": 4}
    sellers = {r["seller"] for r in s["rows"]}
    assert sellers == set(SUITE["scripted_sellers"])
    buyers = {r["buyer"] for r in s["rows"]}
    assert buyers == set(SUITE["baseline_buyers"])  # the buyer under test is one of them here: no duplicate row
    assert len(s["rows"]) == len(sellers) * len(buyers)
    for row in s["rows"]:
        assert row["rollouts"] == 1 and row["buyer_prompt"] is None  # scripted: deterministic, played once, no prompt
        assert row["baseline"] == (row["buyer"] != "scripted:linear")
        episodes = [json.loads(l) for l in (tmp_path / row["episodes_file"]).read_text().splitlines()]
        assert len(episodes) == 8 and sum(e["scenario"]["interest"] == "conflicting" for e in episodes) == 4
        m = row["metrics"]
        assert m["mutual"]["episodes"] == 4 and m["conflicting"]["episodes"] == 4
        # scripted buyers never pay above budget, so in CI they never deal
        assert m["conflicting"]["ci_rational_exit"]["mean"] == 1.0 and m["all"]["overshoot_rate"]["mean"] == 0.0
        assert m["all"]["buyer_format_error_rate"]["mean"] == 0.0 and m["all"]["budget_leak_rate"]["mean"] == 0.0
    assert json.loads((tmp_path / "summary.json").read_text())["rows"] == json.loads(json.dumps(s["rows"]))
    assert stamped_by_this_code(json.loads((tmp_path / "summary.json").read_text()))
    page = (tmp_path / "report.html").read_text()
    assert SUITE_VERSION in page and "scripted:prober" in page
    for png in ("suite_mi_reward.png", "suite_ci_exit.png", "suite_leaks.png"):
        assert (tmp_path / png).stat().st_size > 1000 and png in page
    table = markdown_table(s)
    assert table.count("\n") == len(s["rows"]) + 1 and "(baseline)" in table


def test_llm_buyer_plays_each_scenario_per_rollout_against_llm_personas(tmp_path, tiny_model_dir, monkeypatch):
    # short turns and episodes keep the tiny model's 40 episodes to seconds; everything else is the suite's own
    monkeypatch.setitem(SUITE, "generation", {**SUITE["generation"], "max_new_tokens": 6})
    monkeypatch.setitem(SUITE, "protocol", {**SUITE["protocol"], "max_turns": 4})
    model = f"hf:{tiny_model_dir}"
    result = run_suite(SuiteConfig(buyer=model, seller_model=model, scenarios=2, rollouts=2, out=tmp_path,
                                   baselines=False, batch_size=8), show_progress=False)
    rows = result.summary["rows"]
    assert [r["seller"] for r in rows] == SUITE["scripted_sellers"] + [f"{model}#{p}" for p in SUITE["llm_seller_personas"]]
    for row in rows:
        assert row["rollouts"] == 2 and not row["baseline"] and row["buyer_prompt"] == "buyer.v1"
        episodes = [json.loads(l) for l in (tmp_path / row["episodes_file"]).read_text().splitlines()]
        assert len(episodes) == 4 and len({e["id"] for e in episodes}) == 4
        # strict protocol: a random model's turns are format errors, counted on its side
        assert row["metrics"]["all"]["buyer_format_error_rate"]["n"] > 0
    prompts = {json.loads(l)["prompts"].get("seller") for r in rows[-4:]
               for l in (tmp_path / r["episodes_file"]).read_text().splitlines()}
    assert prompts == {"seller_standard.v1", "seller_hostile.v1", "seller_manipulative.v1", "seller_prober.v1"}


def test_same_seed_same_suite(tmp_path):
    a = run_suite(SuiteConfig(buyer="scripted:conceder", seller_model=None, scenarios=6, out=tmp_path / "a", report=False),
                  show_progress=False)
    b = run_suite(SuiteConfig(buyer="scripted:conceder", seller_model=None, scenarios=6, out=tmp_path / "b", report=False),
                  show_progress=False)
    assert a.rows == b.rows


def test_cli_prints_one_table_and_writes_the_files(tmp_path):
    result = run("eval", "bargain", "--buyer", "scripted:boulware", "--no-llm-sellers", "--scenarios", 4, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert SUITE_VERSION in result.output and "prober" in result.output and "CI exit" in result.output
    assert (tmp_path / "summary.json").exists() and (tmp_path / "report.html").exists()


def test_cli_errors_are_one_line_and_name_the_fix(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("title,category,listing_price,floor\nLamp,home,100,200\n")
    for args, words in (
        (("--buyer", "scripted:prober"), "only plays the seller"),
        (("--buyer", "gpt-17"), "gpt-17"),
        (("--buyer", "scripted:linear", "--seller-model", "scripted:linear", "--llm-sellers"), "seller model"),
        (("--buyer", "scripted:linear", "--catalog", bad), "line 2"),
        (("--buyer", "scripted:linear", "--catalog", tmp_path / "none.csv"), "does not exist"),
    ):
        llm = ("--llm-sellers",) if "--llm-sellers" in args else ("--no-llm-sellers",)
        result = run("eval", "bargain", *[a for a in args if a != "--llm-sellers"], *llm, "--scenarios", 4,
                     "--out", tmp_path / "o")
        assert result.exit_code != 0 and words in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_user_catalog_reaches_the_suite(tmp_path, repo_root):
    result = run_suite(SuiteConfig(buyer="scripted:linear", seller_model=None, scenarios=2, out=tmp_path, report=False,
                                   baselines=False, catalog=str(repo_root / "examples" / "catalog.csv")),
                       show_progress=False)
    episode = json.loads((tmp_path / result.rows[0]["episodes_file"]).read_text().splitlines()[0])
    assert episode["scenario"]["product"]["source"] == "user:catalog.csv"
    assert result.summary["config"]["catalog"].endswith("catalog.csv")


def test_continuous_suite_plays_each_scenario_alike_at_any_size_and_batch(tmp_path, tiny_model_dir, monkeypatch):
    """--engine continuous: scenario i's transcripts (every rollout, against scripted and LLM sellers) are the same in
    a 2-scenario suite at batch 3 as in a 4-scenario suite at batch 8; the lockstep engine gives no such promise, and
    the engine is recorded with the results. An unknown engine is refused before any model loads."""
    monkeypatch.setitem(SUITE, "generation", {**SUITE["generation"], "max_new_tokens": 6})
    monkeypatch.setitem(SUITE, "protocol", {**SUITE["protocol"], "max_turns": 4})
    monkeypatch.setitem(SUITE, "scripted_sellers", ["scripted:boulware", "scripted:linear"])
    monkeypatch.setitem(SUITE, "llm_seller_personas", ["standard"])
    model = f"hf:{tiny_model_dir}"

    def play(n, batch, engine="continuous"):
        out = tmp_path / f"{engine}-{n}-{batch}"
        result = run_suite(SuiteConfig(buyer=model, seller_model=model, scenarios=n, rollouts=2, out=out, baselines=False,
                                       batch_size=batch, report=False, engine=engine), show_progress=False)
        assert result.summary["config"]["engine"] == engine
        return {(row["seller"], e["id"]): [t["text"] for t in e["turns"]]
                for row in result.summary["rows"]
                for e in map(json.loads, (out / row["episodes_file"]).read_text().splitlines())}

    small, large = play(2, 3), play(4, 8)
    assert len(small) == 3 * 2 * 2 and len(large) == 3 * 4 * 2
    assert all(large[key] == texts for key, texts in small.items())
    # the rollouts of one scenario are different draws, not copies
    assert any(small[seller, "test-0-00000/r0"] != small[seller, "test-0-00000/r1"] for seller, _ in small)
    # lockstep draws one stream per batch: the same scenarios in a larger batch play otherwise
    lock_small, lock_large = play(2, 3, "lockstep"), play(4, 8, "lockstep")
    assert any(lock_large[key] != texts for key, texts in lock_small.items())
    with pytest.raises(ParleyError, match="unknown engine 'vllm'"):
        run_suite(SuiteConfig(buyer=model, seller_model=None, scenarios=2, out=tmp_path / "x", engine="vllm"))
