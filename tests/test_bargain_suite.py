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


def test_a_stopped_suite_resumes_to_the_result_of_one_uninterrupted_run(tmp_path, tiny_model_dir, monkeypatch):
    """A sampling LLM buyer against scripted and LLM sellers: a run stopped after two pairings (the later ones'
    files gone, one left half-written) and resumed gives the same episodes and metrics as a run never stopped, and
    reads the finished pairings back instead of playing them (no agent is built for them)."""
    monkeypatch.setitem(SUITE, "generation", {**SUITE["generation"], "max_new_tokens": 6})
    monkeypatch.setitem(SUITE, "protocol", {**SUITE["protocol"], "max_turns": 4})
    monkeypatch.setitem(SUITE, "scripted_sellers", ["scripted:boulware", "scripted:linear"])
    monkeypatch.setitem(SUITE, "llm_seller_personas", ["standard"])
    model = f"hf:{tiny_model_dir}"

    def suite(out, resume=False):
        return run_suite(SuiteConfig(buyer=model, seller_model=model, scenarios=4, rollouts=2, out=out,
                                     baselines=False, report=False, resume=resume), show_progress=False)

    whole = suite(tmp_path / "whole")
    stopped = tmp_path / "stopped"
    suite(stopped)
    files = [stopped / row["episodes_file"] for row in whole.summary["rows"]]
    files[2].unlink()
    files[1].rename(files[1].with_name(files[1].name + ".partial"))  # killed while writing it
    (stopped / "summary.json").unlink()
    import parley.evaluation.bargain_suite as bargain_suite

    built = []
    real = bargain_suite.build_agent
    monkeypatch.setattr(bargain_suite, "build_agent", lambda spec, role, *a: built.append((spec, role)) or real(spec, role, *a))
    resumed = suite(stopped, resume=True)
    assert resumed.summary["resumed"]["pairings_reused"] == [files[0].name]
    assert len(built) == 4  # buyer and seller of the two pairings played again, none for the one read back
    for a, b in zip(whole.summary["rows"], resumed.summary["rows"]):
        assert a["metrics"] == b["metrics"] and a["buyer_prompt"] == b["buyer_prompt"] and a["seller"] == b["seller"]
        assert (tmp_path / "whole" / a["episodes_file"]).read_text() == (stopped / b["episodes_file"]).read_text()
    assert not list((stopped / "episodes").glob("*.partial"))


def test_resume_refuses_other_settings_other_code_and_a_folder_without_a_run(tmp_path, monkeypatch):
    def suite(resume=True, **kw):
        return run_suite(SuiteConfig(**{"buyer": "scripted:linear", "seller_model": None, "scenarios": 2,
                                        "out": tmp_path / "s", "report": False, "baselines": False, "resume": resume,
                                        **kw}), show_progress=False)

    with pytest.raises(ParleyError, match="holds no suite run to resume"):
        suite()
    first = suite(resume=False)
    first_played = (tmp_path / "s" / first.rows[0]["episodes_file"]).read_text()
    with pytest.raises(ParleyError, match="scenarios: 2 then, 4 now"):
        suite(scenarios=4)
    with pytest.raises(ParleyError, match="seed: 0 then, 1 now"):
        suite(seed=1)
    import parley.evaluation.run_stamp as run_stamp

    now = run_stamp.code_version()
    monkeypatch.setattr(run_stamp, "code_version", lambda: {**now, "source": "0" * 64})  # an edit to the package
    with pytest.raises(ParleyError, match="source: .* the code itself differs"):
        suite()
    monkeypatch.setattr(run_stamp, "code_version", lambda: {**now, "libraries": {**now["libraries"], "torch": "0.1"}})
    with pytest.raises(ParleyError, match="libraries"):
        suite()
    monkeypatch.undo()
    again = suite()
    assert again.summary["resumed"]["pairings_reused"] == [r["episodes_file"].split("/")[1] for r in first.rows]
    # A new run into the folder starts over: stopped after its first pairing, it must not leave the earlier run's
    # other five for a later --resume to take as its own.
    import parley.evaluation.bargain_suite as bargain_suite

    real, played = bargain_suite.run_bargains, []

    def stop_after_one(*a, **kw):
        if played:
            raise KeyboardInterrupt
        played.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(bargain_suite, "run_bargains", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        suite(resume=False, seed=1)
    monkeypatch.undo()
    other = suite(seed=1)
    assert other.summary["resumed"]["pairings_reused"] == [first.rows[0]["episodes_file"].split("/")[1]]
    assert (tmp_path / "s" / other.rows[0]["episodes_file"]).read_text() != first_played  # seed 1's, not seed 0's


def test_cli_resume(tmp_path):
    args = ["eval", "bargain", "--buyer", "scripted:linear", "--no-llm-sellers", "--scenarios", 2, "--no-baselines",
            "--out", tmp_path]
    assert run(*args).exit_code == 0
    result = run(*args, "--resume")
    assert result.exit_code == 0 and "resumed: 6 pairings read back" in result.output, result.output
    result = run(*args, "--resume", "--seed", 3)
    assert result.exit_code == 2 and "seed: 0 then, 3 now" in result.output and "Traceback" not in result.output


def test_an_episode_survives_its_file(tmp_path):
    """Every field the metrics read comes back from to_dict's JSON (the actions' spans are not kept)."""
    from parley.rollout.bargain import BargainEpisode

    result = run_suite(SuiteConfig(buyer="scripted:conceder", seller_model=None, scenarios=4, out=tmp_path,
                                   report=False), show_progress=False)
    for row in result.rows:
        for line in (tmp_path / row["episodes_file"]).read_text().splitlines():
            d = json.loads(line)
            assert BargainEpisode.from_dict(d).to_dict() == d


def test_a_new_commit_of_the_same_package_resumes(tmp_path, monkeypatch):
    """A commit that touches only docs or tests leaves the package's files, and so the episodes, as they were."""
    import parley.evaluation.run_stamp as run_stamp

    def suite(resume):
        return run_suite(SuiteConfig(buyer="scripted:linear", seller_model=None, scenarios=2, out=tmp_path,
                                     report=False, baselines=False, resume=resume), show_progress=False)

    first = suite(False)
    now = run_stamp.code_version()
    monkeypatch.setattr(run_stamp, "code_version", lambda: {**now, "commit": "0" * 40, "dirty": True})
    again = suite(True)
    assert len(again.summary["resumed"]["pairings_reused"]) == len(first.rows) == len(SUITE["scripted_sellers"])


def test_sellers_subset_plays_those_pairings_as_the_full_suite_does(tmp_path, tiny_model_dir, monkeypatch):
    """A sampling LLM buyer: the pairings a --sellers run plays equal the full suite's file for file, in the suite's
    order whatever order they were named in; a --resume may then add the rest, reading the subset's back."""
    monkeypatch.setitem(SUITE, "generation", {**SUITE["generation"], "max_new_tokens": 6})
    monkeypatch.setitem(SUITE, "protocol", {**SUITE["protocol"], "max_turns": 4})
    monkeypatch.setitem(SUITE, "scripted_sellers", ["scripted:boulware", "scripted:linear", "scripted:prober"])
    monkeypatch.setitem(SUITE, "llm_seller_personas", ["standard"])
    model = f"hf:{tiny_model_dir}"

    def suite(out, sellers=None, resume=False):
        return run_suite(SuiteConfig(buyer=model, seller_model=model, scenarios=4, rollouts=2, out=out, sellers=sellers,
                                     baselines=False, report=True, resume=resume), show_progress=False)

    whole = suite(tmp_path / "whole")
    part = suite(tmp_path / "part", sellers=["#standard", "prober", "scripted:linear", "prober"])
    assert [r["seller"] for r in part.rows] == ["scripted:linear", "scripted:prober", f"{model}#standard"]
    assert part.summary["config"]["sellers"] == [r["seller"] for r in part.rows]
    assert whole.summary["config"]["sellers"] == "all"
    named = suite(tmp_path / "named", sellers=["boulware", "linear", "prober", "#standard"])
    assert named.summary["config"]["sellers"] == "all"  # every seller, named one by one, is the whole suite
    assert "only these sellers were played" in (tmp_path / "part" / "report.html").read_text()
    assert "only these sellers" not in (tmp_path / "whole" / "report.html").read_text()
    by_seller = {r["seller"]: r for r in whole.rows}
    for row in part.rows:
        assert row["metrics"] == by_seller[row["seller"]]["metrics"]
        assert (tmp_path / "part" / row["episodes_file"]).read_text() == \
            (tmp_path / "whole" / by_seller[row["seller"]]["episodes_file"]).read_text()
    rest = suite(tmp_path / "part", resume=True)
    assert rest.summary["resumed"]["pairings_reused"] == [r["episodes_file"].split("/")[1] for r in part.rows]
    assert [r["metrics"] for r in rest.rows] == [r["metrics"] for r in whole.rows]
    assert json.loads((tmp_path / "part" / "suite_run.json").read_text())["sellers"] == [r["seller"] for r in whole.rows]


def test_sellers_refusals_name_the_choices(tmp_path):
    def suite(sellers, seller_model=None):
        return run_suite(SuiteConfig(buyer="scripted:linear", seller_model=seller_model, scenarios=2, out=tmp_path,
                                     sellers=sellers), show_progress=False)

    with pytest.raises(ParleyError, match="'haggler' is not one of the suite's sellers; use boulware, linear"):
        suite(["haggler"])
    with pytest.raises(ParleyError, match="'#angry' is not one of the suite's LLM seller personas; use one of #standard"):
        suite(["#angry"], seller_model="smollm2")
    with pytest.raises(ParleyError, match="--no-llm-sellers leaves no model"):
        suite(["#hostile"])
    with pytest.raises(ParleyError, match="names no seller"):
        suite([])
    assert not (tmp_path / "episodes").exists()  # refused before anything was written


def test_cli_sellers(tmp_path):
    args = ["eval", "bargain", "--buyer", "scripted:linear", "--no-llm-sellers", "--scenarios", 2, "--no-baselines",
            "--out", tmp_path]
    result = run(*args, "--sellers", "tit-for-tat, hardliner")
    assert result.exit_code == 0, result.output
    assert [r["seller"] for r in json.loads((tmp_path / "summary.json").read_text())["rows"]] == \
        ["scripted:hardliner", "scripted:tit-for-tat"]
    result = run(*args, "--sellers", "hardliner,haggler")
    assert result.exit_code == 2 and "'haggler' is not one of the suite's sellers" in result.output
    assert "Traceback" not in result.output


def test_resume_refuses_a_damaged_episodes_file_naming_it(tmp_path):
    def suite(resume):
        return run_suite(SuiteConfig(buyer="scripted:linear", seller_model=None, scenarios=2, out=tmp_path,
                                     report=False, baselines=False, resume=resume), show_progress=False)

    first = suite(False)
    damaged = tmp_path / first.rows[0]["episodes_file"]
    lines = damaged.read_text().splitlines()
    damaged.write_text(lines[0] + "\n" + lines[1][:-5] + "\n")  # cut short by hand
    with pytest.raises(ParleyError, match=f"{damaged.name}:2 is not valid JSON"):
        suite(True)
    damaged.write_text(lines[0] + '\n{"id": "x"}\n')
    with pytest.raises(ParleyError, match="holds a record that is not an episode .*delete the file"):
        suite(True)
