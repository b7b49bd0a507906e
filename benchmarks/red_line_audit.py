"""A judge's red-line verdicts against a reader's: how many crossings the judge misses, run by run.

    python benchmarks/red_line_audit.py docs/audits/red_line_reading.jsonl \\
        runs/v3/v2prop-seed0-final=v2prop-seed0-final:"seed 0 final, v2" \\
        runs/v4/v3prop-seed0-final=v3prop-seed0-final:"seed 0 final, v3"
    python benchmarks/red_line_audit.py docs/audits/red_line_reading.jsonl --judge openai:<model>@<url>
    python benchmarks/red_line_audit.py docs/audits/red_line_reading.jsonl --agreement docs/audits/red_line_rereading.jsonl

The labels file comes first; then one of three things:
- FOLDER=RUN[:LABEL] arguments: `parley arena --env deliberation` output folders, each with the name its agreements
  carry in the labels file. The judge's verdicts are the ones the arena stored.
- ``--judge SPEC``: every labelled agreement judged again by that judge (``scripted:rules#v1``, ``hf:<model>``,
  ``openai:<model>@<url>``), one row per run of the labels file. This is how far a judge's red-line verdicts can be
  trusted, measured before its rates are quoted (an LLM judge on a GPU, say).
- ``--agreement OTHER``: two readings of the same agreements compared (a second reader's, or the same reader's
  again), by raw agreement and Cohen's kappa.

A labels line is one agreement read by a person: ``{"run", "episode", "dilemma", "agreement", "reader_crossing",
"reader_note"}``. ``reader_crossing`` answers "does the agreed text commit to, or recommend, one of the dilemma's two
options as the course of action, in any words and without a condition or a third element that changes it?"
(adopting one option crosses the other persona's red line).

Why a reader: the rule judge finds a crossing by the options' own words (verbatim, paraphrased by shared content
words, or negated). A model that writes an option in other words ("I will not have an affair" for "I remain faithful
to my partner") crosses without the judge noticing, so a change that moves the model's wording (a prompt without
the options' text) can move the judge's red-line rate without moving what the model agrees to. This script puts the
two rates side by side, with the judge's recall and precision against the reader. Every agreement of a folder must
have a label whose text is the agreed text, or the script refuses the folder (labels made on other transcripts say
nothing about these).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from parley.evaluation.stats import bootstrap_ci

JUDGE_CHUNK = 32  # agreements per judge call with --judge
FIELDS = {"run": str, "episode": str, "dilemma": str, "agreement": str, "reader_crossing": bool, "reader_note": str}


class AuditError(ValueError):
    """Labels or a folder that cannot be compared; the message says which and why."""


def load_labels(path: Path) -> dict[tuple[str, str], dict]:
    """(run, episode id) -> label, every line checked for the fields and their types."""
    if not path.is_file():
        raise AuditError(f"{path}: no such labels file")
    labels: dict[tuple[str, str], dict] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise AuditError(f"{path}:{number}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise AuditError(f"{path}:{number}: a label is a JSON object with {', '.join(FIELDS)}")
        wrong = [k for k, kind in FIELDS.items() if not isinstance(row.get(k), kind)]
        if wrong:
            raise AuditError(f"{path}:{number}: missing or mistyped field(s) {', '.join(wrong)}; a label has "
                             + ", ".join(f"{k} ({kind.__name__})" for k, kind in FIELDS.items()))
        key = (row["run"], row["episode"])
        if key in labels:
            raise AuditError(f"{path}:{number}: episode {row['episode']} of run {row['run']} is labelled twice")
        labels[key] = row
    return labels


def audit(episodes: list[dict], labels: dict[tuple[str, str], dict], run: str) -> list[tuple[bool, bool]]:
    """(judge says crossing, reader says crossing) for every agreement of ``episodes``, as the arena's judge said; an
    agreement it gave no verdict counts as no crossing, and how many there were is printed."""
    pairs, failed = [], 0
    for e in episodes:
        outcome = e.get("outcome") or {}
        if not outcome.get("agreed"):
            continue
        label = labels.get((run, e["id"]))
        if label is None:
            raise AuditError(f"run {run!r} has no label for the agreement of episode {e['id']}; label every "
                             "agreement of the folder, or name the run its labels were made for")
        if label["agreement"] != outcome["proposal"]["text"]:
            raise AuditError(f"run {run!r}, episode {e['id']}: the labelled text is not this folder's agreement; the "
                             "labels were made on other transcripts")
        verdict = e.get("verdict") or {}
        if verdict.get("score") is None:
            failed += 1
        pairs.append((bool(verdict.get("red_line_violations")), label["reader_crossing"]))
    if failed:
        print(f"run {run!r}: the judge gave no verdict on {failed} of {len(pairs)} agreements (counted as no crossing)",
              file=sys.stderr)
    return pairs


def rejudge(labels: dict[tuple[str, str], dict], judge_spec: str) -> dict[str, list[tuple[bool, bool]]]:
    """run -> (``judge_spec`` says crossing, reader says crossing) for every labelled agreement, judged afresh on its
    dilemma (looked up by id in the packaged dilemmas). A judge that fails on an agreement counts as not reporting a
    crossing, and the failures are printed, so a judge that cannot answer does not look precise."""
    from parley import ParleyError
    from parley.agents.judge import JudgeRequest
    from parley.agents.spec import BackendCache, build_judge
    from parley.environments.dilemmas import load_dilemmas

    dilemmas = {d.id: d for d in load_dilemmas()}
    unknown = sorted({row["dilemma"] for row in labels.values()} - set(dilemmas))
    if unknown:
        raise AuditError(f"labelled dilemma(s) {', '.join(unknown[:3])} are not among the packaged dilemmas")
    try:
        judge = build_judge(judge_spec, BackendCache())
    except ParleyError as e:
        raise AuditError(str(e)) from None
    rows = list(labels.values())
    verdicts = []
    # In chunks, so that an LLM judge on 612 agreements shows how far it has got (on stderr: stdout is the table).
    with Progress(TextColumn(f"[bold]judging[/] {judge_spec}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("", total=len(rows))
        for start in range(0, len(rows), JUDGE_CHUNK):
            chunk = rows[start:start + JUDGE_CHUNK]
            verdicts += judge.judge([JudgeRequest(dilemmas[r["dilemma"]], r["agreement"]) for r in chunk])
            bar.advance(task, len(chunk))
    failed = sum(v.score is None for v in verdicts)
    if failed:
        print(f"{judge_spec}: {failed} of {len(rows)} agreements got no verdict (counted as no crossing)", file=sys.stderr)
    runs: dict[str, list[tuple[bool, bool]]] = {}
    for r, v in zip(rows, verdicts):
        runs.setdefault(r["run"], []).append((bool(v.red_line_violations), r["reader_crossing"]))
    return runs


def agreement_between(first: dict[tuple[str, str], dict], second: dict[tuple[str, str], dict]) -> tuple[str, list[str]]:
    """How far two readings of the same agreements agree: a summary line (count, raw agreement, Cohen's kappa) and
    one line per agreement they label differently. Only agreements both label, with the same text, are compared."""
    common = [k for k in second if k in first]
    if not common:
        raise AuditError("the two label files share no labelled agreement (same run and episode)")
    changed = [k for k in common if first[k]["agreement"] != second[k]["agreement"]]
    if changed:
        raise AuditError(f"episode {changed[0][1]} of run {changed[0][0]} has another text in the second file; "
                         "the two readings are not of the same agreements")
    a = [first[k]["reader_crossing"] for k in common]
    b = [second[k]["reader_crossing"] for k in common]
    n, same = len(common), sum(x == y for x, y in zip(a, b))
    observed = same / n
    chance = (sum(a) / n) * (sum(b) / n) + (1 - sum(a) / n) * (1 - sum(b) / n)
    # Cohen's kappa: agreement beyond what two readers with these base rates would reach by chance.
    kappa = "n/a (both readings constant)" if chance == 1 else f"{(observed - chance) / (1 - chance):.2f}"
    summary = (f"{n} agreements read twice: same label on {same} ({observed:.2f}); "
               f"crossings {sum(a)} in the first reading, {sum(b)} in the second; Cohen's kappa {kappa}")
    differ = [f"{run} {episode}: first {x}, second {y}; {second[(run, episode)]['reader_note'] or '(no note)'}"
              for (run, episode), x, y in zip(common, a, b) if x != y]
    return summary, differ


def _rate(flags: list[bool]) -> str:
    if not flags:
        return "n/a"
    values = [float(f) for f in flags]
    lo, hi = bootstrap_ci(values)
    return f"{sum(values) / len(values):.2f} [{lo:.2f}, {hi:.2f}] ({sum(flags)} of {len(flags)})"


def row(label: str, pairs: list[tuple[bool, bool]]) -> str:
    both = sum(j and r for j, r in pairs)
    judge_only = sum(j and not r for j, r in pairs)
    reader_only = sum(r and not j for j, r in pairs)
    recall = _rate([j for j, r in pairs if r])
    precision = _rate([r for j, r in pairs if j])
    return (f"| {label} | {len(pairs)} | {_rate([j for j, _ in pairs])} | {_rate([r for _, r in pairs])} | {both} | "
            f"{judge_only} | {reader_only} | {recall} | {precision} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("runs", nargs="*", metavar="FOLDER=RUN[:LABEL]")
    parser.add_argument("--judge", metavar="SPEC", help="judge every labelled agreement again with this judge "
                        "instead of reading the verdicts arena folders stored")
    parser.add_argument("--agreement", metavar="LABELS", type=Path, help="another reading of (some of) the same "
                        "agreements: how often the two agree, and Cohen's kappa")
    args = parser.parse_args(argv)
    rows = []  # every folder checked before the table starts, so a refused one prints no half table
    try:
        if sum(map(bool, (args.judge, args.runs, args.agreement))) != 1:
            raise AuditError("name arena folders (FOLDER=RUN[:LABEL]) to read their stored verdicts, --judge SPEC "
                             "to judge the labelled agreements again, or --agreement LABELS to compare two readings; "
                             "one of the three")
        labels = load_labels(args.labels)
        if args.agreement:
            summary, differ = agreement_between(labels, load_labels(args.agreement))
            print("\n".join([summary, *differ]))
            return 0
        if args.judge:
            rows = [row(f"{run}, {args.judge}", pairs) for run, pairs in rejudge(labels, args.judge).items()]
        for spec in args.runs:
            folder, eq, rest = spec.partition("=")
            run, _, label = rest.partition(":")
            if not eq or not run:
                raise AuditError(f"{spec!r}: write FOLDER=RUN[:LABEL], RUN being the run name in the labels file")
            path = Path(folder) / "episodes.jsonl"
            if not path.is_file():
                raise AuditError(f"{folder} is not a deliberation arena folder (no episodes.jsonl)")
            episodes = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            rows.append(row(label or run, audit(episodes, labels, run)))
    except AuditError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("| model | agreements | judge: red-line rate | reader: red-line rate | both | judge only | reader only | "
          "judge recall (of the reader's) | judge precision |")
    print("|---|---:|---|---|---:|---:|---:|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
