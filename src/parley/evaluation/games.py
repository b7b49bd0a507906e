"""The registry of games, as evaluation sees them: ``parley arena --env NAME`` and ``parley report`` take a game
from here and never branch on its name.

A game's arena takes an ``ArenaRequest`` (what the command line collected, the same for every game) and returns
an ``ArenaOutcome``: its summary, the rows of the results table and the files it wrote. A game names the agent
options it takes (``--agent``, ``--opponent``, ``--judge``, or bargaining's ``--buyer`` and ``--seller``) with
their defaults; the CLI refuses an option the game does not take. Built-in games register in their own modules,
imported lazily by ``get_arena``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from parley import ParleyError
from parley.models.generation import GenerationSettings
from parley.registry import Registry

AGENT_OPTIONS = ("buyer", "seller", "agent", "opponent", "judge")
# Scenario and protocol options only some games take (bargaining: all five); the CLI refuses them elsewhere.
GAME_OPTIONS = ("catalog", "budget_rule", "parser", "reward", "engine")
_BUILT_IN = ("parley.evaluation.bargain_arena", "parley.evaluation.deliberation_arena", "parley.evaluation.casino_arena")


@dataclass(frozen=True)
class ArenaRequest:
    agents: dict[str, str | None]  # option name -> spec (None: the game's default)
    split: str = "test"
    episodes: int = 16
    seed: int = 0
    out: Path = Path("runs/arena")
    max_turns: int = 10
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    report: bool = True
    settings: dict[str, str] = field(default_factory=dict)  # GAME_OPTIONS given on the command line

    def agent(self, option: str, defaults: dict[str, str | None]) -> str | None:
        value = self.agents.get(option)
        return defaults.get(option) if value is None else value


@dataclass
class ArenaOutcome:
    summary: dict
    title: str
    rows: list[tuple[str, str]]
    files: list[Path]


@dataclass(frozen=True)
class TrainingReport:
    """What ``parley report`` shows of a run of this game: panels (metric key, label) of its evaluations, the
    columns of its evaluation table, and whether the bargaining strategy phases apply."""

    panels: tuple[tuple[str, str], ...] = (("mean_reward", "mean reward"), ("agreement_rate", "agreement rate"))
    columns: tuple[str, ...] = ("agreement_rate",)
    phases: bool = False
    # an episode record (a sample transcript) -> {"summary": one line, "turns": [(speaker, seat 0/1, effect, text)],
    # "note": str}
    sample: Callable[[dict], dict] = lambda e: {"summary": str(e.get("id", "")), "note": "", "turns": [
        (str(t.get("speaker", t.get("role", ""))), 0, t.get("effect", ""), t.get("text", "")) for t in e.get("turns", [])]}


@dataclass(frozen=True)
class ArenaGame:
    name: str
    # option -> default spec (None: none, e.g. deliberation's opponent defaults to the agent itself)
    options: dict[str, str | None]
    run: Callable[[ArenaRequest, bool], ArenaOutcome]  # (request, show_progress)
    report: TrainingReport = TrainingReport()
    settings: tuple[str, ...] = ()  # the GAME_OPTIONS it takes


def _load_built_in() -> None:
    for module in _BUILT_IN:
        importlib.import_module(module)


ARENAS: Registry[ArenaGame] = Registry("--env", _load_built_in)


def register_arena(game: ArenaGame) -> ArenaGame:
    unknown = set(game.options) - set(AGENT_OPTIONS)
    if unknown:
        raise ValueError(f"arena {game.name!r} names options the CLI does not have: {sorted(unknown)}")
    if set(game.settings) - set(GAME_OPTIONS):
        raise ValueError(f"arena {game.name!r} names settings the CLI does not have: {sorted(set(game.settings) - set(GAME_OPTIONS))}")
    return ARENAS.register(game)


get_arena = ARENAS.lookup


def output_folder(path) -> Path:
    """The folder, created if needed; a clear error when it cannot be."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParleyError(f"cannot create output folder {out}: {exc.strerror}") from exc
    return out


def fmt_ci(mean: float | None, ci: tuple[float, float]) -> str:
    return "–" if mean is None else f"{mean:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def common_rows(summary: dict) -> list[tuple[str, str]]:
    return [("episodes", str(summary["episodes"])),
            ("agreement rate [95% CI]", fmt_ci(summary["agreement_rate"], summary["agreement_rate_ci95"]))]
