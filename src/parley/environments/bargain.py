"""The bargaining protocol: alternating turns, standing offers, and the regulated seller's rules.

The contract follows PettingZoo's AEC style: ``reset`` starts an episode, ``agent_selection``
names who moves, ``observe(role)`` gives that side's private view, ``step(text)`` applies the
mover's turn. Rules are enforced here, not in prompts, so no seller policy (scripted or LLM) can
break them: a violating action is blocked and logged and the episode continues.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum

from parley import ParleyError
from parley.environments.actions import PARSE_MODES, _PRICE, Action, ActionKind, _price_from_match, parse_action
from parley.environments.rewards import REWARD_VARIANTS, buyer_reward, paper_buyer_reward, seller_reward
from parley.environments.scenarios import Scenario
from parley.environments.secrecy import stated_budget

REDACTED = "[redacted]"


class Role(str, Enum):
    BUYER = "buyer"
    SELLER = "seller"

    @property
    def other(self) -> "Role":
        return Role.SELLER if self is Role.BUYER else Role.BUYER


@dataclass(frozen=True)
class ProtocolConfig:
    max_turns: int = 10  # both sides together
    first_mover: Role = Role.BUYER
    # A listing is an offer: the buyer may accept the listing price before the seller speaks.
    listing_is_offer: bool = True
    # A price within this relative distance of the floor counts as revealing it.
    leak_tolerance: float = 0.005
    # "lenient" reads the last tag anywhere, or a first-person phrasing; "strict" (the paper's) needs the turn
    # to end with exactly one action and counts anything else as a format error, with a notice to the speaker.
    parser: str = "lenient"
    # The buyer's reward: "surplus" (Parley's) or "paper" (malformed action -1); environments/rewards.py.
    reward: str = "surplus"

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ParleyError(f"max_turns must be at least 1, got {self.max_turns}")
        if self.parser not in PARSE_MODES:
            raise ParleyError(f"unknown parser mode {self.parser!r}; expected one of {', '.join(PARSE_MODES)}")
        if self.reward not in REWARD_VARIANTS:
            raise ParleyError(f"unknown reward {self.reward!r}; expected one of {', '.join(REWARD_VARIANTS)}")
        object.__setattr__(self, "first_mover", Role(self.first_mover))


@dataclass
class TurnRecord:
    turn: int
    role: Role
    text: str  # what the agent wrote
    delivered: str  # what the other side saw (after redaction)
    action: Action
    effect: str  # "offer" | "accept" | "walk" | "message" | "blocked" | "invalid"
    violations: list[str] = field(default_factory=list)
    format_error: bool = False  # the turn carries no valid action (what counts as one depends on the parser mode)
    # A malformed action (the paper reward's -1): in strict mode every format error; in lenient mode plain talk is
    # a legal turn, so only a tag the parser could not read as a move ("OFFER: $abc") is malformed.
    malformed: bool = False
    revealed_budget: str | None = None  # a buyer's words that state its budget (environments/secrecy.py)

    def to_dict(self) -> dict:
        return {
            "turn": self.turn, "role": self.role.value, "text": self.text, "delivered": self.delivered,
            "action": self.action.to_dict(), "effect": self.effect, "violations": list(self.violations),
            "format_error": self.format_error, "malformed": self.malformed, "revealed_budget": self.revealed_budget,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "TurnRecord":
        return cls(**{**d, "role": Role(d["role"]), "action": Action.from_dict(d["action"]),
                      "violations": list(d["violations"])})


@dataclass
class Outcome:
    deal: bool
    price: float | None
    reason: str  # "accepted" | "walked_away" | "max_turns"
    turns: int
    closed_by: Role | None  # who accepted or walked away

    def to_dict(self) -> dict:
        d = asdict(self)
        d["closed_by"] = self.closed_by.value if self.closed_by else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Outcome":
        return cls(**{**d, "closed_by": Role(d["closed_by"]) if d["closed_by"] else None})


@dataclass(frozen=True)
class BargainObservation:
    """One side's view: public listing, its own private value, and what it has been shown."""

    episode_id: str
    role: Role
    title: str
    category: str
    description: str
    listing_price: float
    private_value: float  # budget for the buyer, floor for the seller
    history: tuple[tuple[Role, str], ...]  # (speaker, delivered text)
    own_offer: float | None
    other_offer: float | None
    turn: int
    max_turns: int
    notices: tuple[str, ...] = ()
    offers: tuple[tuple[Role, float], ...] = ()  # every valid offer so far, in order
    # Standing (buyer, seller) offers at the start of the episode and after each turn of ``history``.
    standing: tuple[tuple[float | None, float | None], ...] = ()

    def standing_for(self, after_turns: int) -> tuple[float | None, float | None]:
        """(own, other) standing offers once ``after_turns`` turns had been played."""
        buyer, seller = self.standing[after_turns]
        return (buyer, seller) if self.role is Role.BUYER else (seller, buyer)

    def offers_by(self, role: "Role") -> list[float]:
        return [price for who, price in self.offers if who is role]

    @property
    def turns_left(self) -> int:
        return self.max_turns - self.turn


class BargainEnv:
    agents = (Role.BUYER, Role.SELLER)

    def __init__(self, config: ProtocolConfig | None = None) -> None:
        self.config = config or ProtocolConfig()
        self.scenario: Scenario | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def reset(self, scenario: Scenario, episode_id: str | None = None) -> Role:
        self.scenario = scenario
        self.episode_id = episode_id or scenario.id
        self.turns: list[TurnRecord] = []
        self.offers: dict[Role, float | None] = {Role.BUYER: None, Role.SELLER: None}
        if self.config.listing_is_offer:
            self.offers[Role.SELLER] = scenario.listing_price
        self.notices: dict[Role, list[str]] = {Role.BUYER: [], Role.SELLER: []}
        self.standing = [(self.offers[Role.BUYER], self.offers[Role.SELLER])]
        self.outcome: Outcome | None = None
        self.agent_selection = self.config.first_mover
        return self.agent_selection

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def observe(self, role: Role) -> BargainObservation:
        s = self._require_scenario()
        return BargainObservation(
            episode_id=self.episode_id, role=role, title=s.product.title, category=s.product.category,
            description=s.product.description, listing_price=s.listing_price,
            private_value=s.budget if role is Role.BUYER else s.floor,
            history=tuple((t.role, t.delivered) for t in self.turns),
            own_offer=self.offers[role], other_offer=self.offers[role.other],
            turn=len(self.turns), max_turns=self.config.max_turns, notices=tuple(self.notices[role]),
            offers=tuple((t.role, t.action.price) for t in self.turns if t.effect == "offer"),
            standing=tuple(self.standing),
        )

    def step(self, text: str) -> TurnRecord:
        s = self._require_scenario()
        if self.done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        role = self.agent_selection
        text = text if isinstance(text, str) else ""
        action = parse_action(text, self.config.parser)
        self.notices[role] = []
        record = TurnRecord(turn=len(self.turns), role=role, text=text, delivered=text, action=action, effect="message",
                            format_error=action.kind is ActionKind.NONE)
        record.malformed = record.format_error and (self.config.parser == "strict" or action.source == "tag")
        if record.format_error and self.config.parser == "strict":
            why = action.notes[0] if action.notes else "no action"
            self.notices[role].append(f"Format error ({why}): end every turn with exactly one action: "
                                      "OFFER: $<price>, ACCEPT or WALK AWAY.")
        if role is Role.SELLER:
            self._enforce_seller_rules(record, s)
        self._apply(record)
        if role is Role.BUYER and record.effect != "accept":  # words that strike the deal reveal nothing in time
            offered = action.price if action.kind is ActionKind.OFFER else None
            record.revealed_budget = stated_budget(text, s.budget, offered)
        self.turns.append(record)
        self.standing.append((self.offers[Role.BUYER], self.offers[Role.SELLER]))
        if not self.done and len(self.turns) >= self.config.max_turns:
            self.outcome = Outcome(False, None, "max_turns", len(self.turns), None)
        self.agent_selection = role.other
        return record

    def rewards(self) -> dict[Role, float]:
        """Each side's surplus share, checked by code (environments/rewards.py); only once the episode is over."""
        s = self._require_scenario()
        if self.outcome is None:
            raise RuntimeError("rewards() before the episode ended")
        if self.config.reward == "paper":
            buyer = paper_buyer_reward(s, self.outcome, any(t.malformed for t in self.turns if t.role is Role.BUYER))
        else:
            buyer = buyer_reward(s, self.outcome)
        return {Role.BUYER: buyer, Role.SELLER: seller_reward(s, self.outcome)}

    def record(self) -> dict:
        s = self._require_scenario()
        rewards = self.rewards()
        return {"id": self.episode_id, "scenario": s.to_dict(), "turns": [t.to_dict() for t in self.turns],
                "outcome": self.outcome.to_dict(), "reward": {r.value: v for r, v in rewards.items()},
                "violations": [v for t in self.turns for v in t.violations]}

    # -- rules -----------------------------------------------------------------------------
    def _enforce_seller_rules(self, record: TurnRecord, s: Scenario) -> None:
        action = record.action
        blocked_price: float | None = None
        if action.kind is ActionKind.OFFER:
            if action.price < s.floor:
                record.violations.append("offer_below_floor")
                blocked_price = action.price
            elif action.price > s.listing_price:
                record.violations.append("offer_above_listing")
                blocked_price = action.price
        elif action.kind is ActionKind.ACCEPT:
            standing = self.offers[Role.BUYER]
            if standing is not None and standing < s.floor:
                record.violations.append("accept_below_floor")
        if record.violations:
            record.effect = "blocked"
            self.notices[Role.SELLER].append(
                f"Your last {action.kind.value} was blocked ({', '.join(record.violations)}): "
                f"you may not go below ${s.floor:,.2f} or above the listing price ${s.listing_price:,.2f}."
            )
        offered = action.price if action.kind is ActionKind.OFFER and not record.violations else None
        record.delivered, leaked = self._redact(record.text, s.floor, blocked_price, offered)
        if leaked:
            record.violations.append("revealed_floor")

    def _redact(self, text: str, floor: float, blocked: float | None, offered: float | None) -> tuple[str, bool]:
        leaked = False
        tol = self.config.leak_tolerance

        def replace(m: re.Match) -> str:
            nonlocal leaked
            price = _price_from_match(m)
            if price is None:
                return m.group(0)
            if blocked is not None and abs(price - blocked) < 0.005:
                return REDACTED
            if abs(price - floor) <= tol * floor and (offered is None or abs(price - offered) >= 0.005):
                leaked = True
                return REDACTED
            return m.group(0)

        return _PRICE.sub(replace, text), leaked

    def _apply(self, record: TurnRecord) -> None:
        if record.effect == "blocked":
            return
        role, action = record.role, record.action
        if action.kind is ActionKind.OFFER:
            self.offers[role] = action.price
            record.effect = "offer"
        elif action.kind is ActionKind.ACCEPT:
            price = self.offers[role.other]
            if price is None:
                record.effect = "invalid"
                self.notices[role].append("There was no offer from the other side to accept.")
                return
            record.effect = "accept"
            self.outcome = Outcome(True, price, "accepted", len(self.turns) + 1, role)
        elif action.kind is ActionKind.WALK:
            record.effect = "walk"
            self.outcome = Outcome(False, None, "walked_away", len(self.turns) + 1, role)

    def _require_scenario(self) -> Scenario:
        if self.scenario is None:
            raise RuntimeError("call reset(scenario) before using the environment")
        return self.scenario
