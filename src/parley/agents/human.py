"""A person at the terminal plays one side (``parley play``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from rich.console import Console
from rich.markup import escape

from parley.agents.bargainer import _money
from parley.environments.bargain import BargainObservation


@dataclass
class HumanAgent:
    name: str = "human"
    console: Console = field(default_factory=Console)
    read: Callable[[str], str] | None = None

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        read = self.read or (lambda prompt: self.console.input(prompt))
        texts = []
        for obs in observations:
            if obs.history and obs.history[-1][0] is not obs.role:
                speaker, text = obs.history[-1]
                self.console.print(f"[bold magenta]{speaker.value}[/]: {escape(text)}")
            self.console.print(f"[dim]their offer: {_money(obs.other_offer)} | your offer: {_money(obs.own_offer)}"
                               f" | your private limit: {_money(obs.private_value)}[/]")
            for notice in obs.notices:
                self.console.print(f"[yellow]{notice}[/]")
            try:
                text = read(f"[bold cyan]you ({obs.role.value}, turn {obs.turn + 1}/{obs.max_turns})>[/] ")
            except EOFError:
                text = "WALK AWAY"
            texts.append(text)
        return texts
