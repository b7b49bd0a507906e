"""Reading the files a run leaves behind (training runs, suite folders): JSON lines and the best model's record.

Below both training and evaluation, importing nothing heavy: the trainer, the training report and the suite's
--resume all read these files, and none of them should pull the others' imports (matplotlib, TRL) to do it.
"""

from __future__ import annotations

import json
from pathlib import Path

from parley import ParleyError

HELD_OUT = "heldout/"  # evals.jsonl: the prefix of the metrics against the opponents held out of training
BEST_DIR = "best"  # in a training run directory: the model kept by evaluation.best_metric
BEST_FILE = "best.json"  # in BEST_DIR: {"metric", "value", "step", "greater_is_better"}


def read_jsonl(path: Path) -> list[dict]:
    """Every record of a JSON-lines file ([] if there is none); a damaged line is refused, naming file and line."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ParleyError(f"{path}:{number} is not valid JSON ({exc.msg}); was the file edited by hand?") from None
    return rows


def read_best(run_dir: Path) -> dict | None:
    """The record of the run's best model (``best/best.json``), or None for a run that keeps none."""
    path = Path(run_dir) / BEST_DIR / BEST_FILE
    return json.loads(path.read_text()) if path.is_file() else None
