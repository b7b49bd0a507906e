"""Bargaining agents: LLM negotiators (a persona prompt, the dialogue as chat messages, any generation backend)
and scripted counterparts.

Scripted counterparts: Faratin-style time-dependent concession, hardliner, tit-for-tat, split-the-difference.

Written here rather than taken from NegMAS (AGPL). Each works for either role: the seller concedes
from the listing price down to its floor, the buyer from an opening bid up to its budget. They are
stateless: everything they need is in the observation, so one agent serves a whole batch.

Reference: P. Faratin, C. Sierra, N. R. Jennings, "Negotiation decision functions for autonomous
agents", Robotics and Autonomous Systems 24 (1998).
"""

from __future__ import annotations

import math
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

from parley import ParleyError
from parley.environments.actions import Action, ActionKind, format_action
from parley.environments.secrecy import claimed_budgets
from parley.models import prompts
from parley.models.backends import Backend, Completion, Conversation
from parley.models.generation import GenerationSettings
from parley.environments.bargain import BargainObservation, Role

SELLER_PERSONAS = ("standard", "hostile", "manipulative", "prober")
# "guided": the buyer's status line also suggests the split-the-difference offer (``split_target``). A 135M model
# copies numbers from its context but cannot compute one (docs/benchmarks.md, "Teachers on uniform budgets"), so
# the suggestion is an action it can express without arithmetic; the scripted splitter plays it exactly.
# "menu": the status line lists every move the buyer may copy (``menu_moves``: hold its offer, split the difference,
# accept an affordable offer). With one suggestion GRPO had nothing to choose between: every rollout of a group
# copied it and the group's rewards were equal (docs/benchmarks.md, "The guided buyer"). A menu buyer warm-started
# on ``scripted:menu`` (a uniformly random pick from the menu) samples different strategies within a group, so the
# rewards differ by strategy, not by format noise, and GRPO has something to prefer.
BUYER_PERSONAS = ("standard", "guided", "menu")
# The prompt version an agent plays unless its persona names one (``guided.v2``). Pinned rather than "the newest":
# the shipped buyer, every training config and every published command used buyer.v1, and making buyer.v2 (the same
# instructions in fewer tokens: a shortened product description and a terser status line, so an episode runs about
# a quarter fewer prompt tokens) the default would silently change what each of them plays. The guided recipe
# trained on v2 learned the same policy 20% faster (docs/benchmarks.md, "A compact buyer prompt").
DEFAULT_PROMPT_VERSIONS = {"buyer": 1}


def personas_for(role: Role) -> tuple[str, ...]:
    """The prompt personas an LLM agent in ``role`` may play."""
    return BUYER_PERSONAS if role is Role.BUYER else SELLER_PERSONAS


def prompt_name(role: Role, persona: str) -> str:
    return "buyer" if role is Role.BUYER else f"seller_{persona}"


def split_persona(text: str) -> tuple[str, int | None]:
    """``"guided.v2"`` -> ("guided", 2); ``"hostile"`` -> ("hostile", None): a persona, optionally with the version
    of its prompt. A ParleyError for anything else after the dot."""
    name, dot, version = text.partition(".")
    if not dot:
        return name, None
    m = re.fullmatch(r"v([1-9][0-9]*)", version)
    if not m:
        raise ParleyError(f"persona {text!r}: after the dot comes a prompt version such as v2")
    return name, int(m.group(1))


def check_persona_for(role: Role, persona: str) -> None:
    """A ParleyError unless ``persona`` (``name[.vN]``) is one ``role`` plays, in a prompt version that exists."""
    name, version = split_persona(persona)
    personas = personas_for(role)
    if name not in personas:
        raise ParleyError(f"persona {name!r} is for {role.other.value}s; a {role.value} takes " + ", ".join(personas)
                          if name in BUYER_PERSONAS + SELLER_PERSONAS else
                          f"unknown persona {name!r}; a {role.value} takes " + ", ".join(personas))
    check_prompt_version(role, persona)


def check_prompt_version(role: Role, persona: str) -> None:
    """A ParleyError when ``persona`` (one ``role`` plays) names a version its prompt does not have."""
    name, version = split_persona(persona)
    prompts.check_version(prompt_name(role, name), version, f"persona {persona!r}: ")


def _money(value: float | None) -> str:
    return "none" if value is None else f"${value:,.2f}"


@dataclass
class BargainLLMAgent:
    name: str
    backend: Backend
    role: Role
    persona: str = "standard"
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    reuse_cache: bool = True  # keep each dialogue's K/V between turns (local models)
    last_completions: list[Completion] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # Not id(self): ids of collected objects are reused, and a stale cache entry would be found.
        self._session_ns = uuid.uuid4().hex
        check_persona_for(self.role, self.persona)
        self.persona, version = split_persona(self.persona)
        name = prompt_name(self.role, self.persona)
        self.prompt_id, self._template = prompts.load(name, version or DEFAULT_PROMPT_VERSIONS.get(name))
        self.prompt_version = int(self.prompt_id.rsplit(".v", 1)[1])

    def messages(self, obs: BargainObservation) -> Conversation:
        """System prompt, then the dialogue; each user message ends with the status at that point.

        Past messages render exactly as they did when they were new, so consecutive turns share
        their token prefix and the backend's K/V cache covers all but the newest messages.
        """
        system = self._template.render(
            title=obs.title, category=obs.category, description=obs.description,
            listing_price=obs.listing_price, private_value=obs.private_value, max_turns=obs.max_turns,
        )
        other = obs.role.other.value.capitalize()
        # The private value is repeated next to the offers: a small model compares the numbers it sees
        # together far more reliably than one it must recall from the system prompt (docs/benchmarks.md:
        # the trained 135M buyer's over-budget deals were mostly bids a few cents to dollars over budget).
        limit = f"Your {'budget' if obs.role is Role.BUYER else 'floor'}: {_money(obs.private_value)}."
        hinted = self.persona if obs.role is Role.BUYER else None  # only buyers take guided or menu

        def status(after_turns: int) -> str:
            own, theirs = obs.standing_for(after_turns) if obs.standing else (obs.own_offer, obs.other_offer)
            if hinted == "guided":
                split = split_target(obs.role, own, theirs, obs.private_value, obs.listing_price)
                hint = f" Suggested offer: {_money(split)}."
            elif hinted == "menu":
                moves = menu_moves(own, theirs, obs.private_value, obs.listing_price)
                hint = " Moves: " + " | ".join(format_action(m) for m in moves) + "."
            else:
                hint = ""
            if self.prompt_version >= 2:  # the same facts in fewer tokens (buyer.v2)
                return (f"[Turn {after_turns + 1}/{obs.max_turns}. {other}: {_money(theirs)}. You: {_money(own)}. "
                        f"{limit}{hint}]")
            return (f"[Turn {after_turns + 1} of {obs.max_turns}. {other}'s current offer: {_money(theirs)}. "
                    f"Your current offer: {_money(own)}. {limit}{hint}]")

        messages: Conversation = [{"role": "system", "content": system}]
        opening = "The negotiation starts. Make your opening move."
        for index, (speaker, text) in enumerate(obs.history):
            if speaker is obs.role:
                if len(messages) == 1:  # chat templates expect a user turn first
                    messages.append({"role": "user", "content": f"{opening}\n{status(index)}"})
                messages.append({"role": "assistant", "content": text})
            else:
                messages.append({"role": "user", "content": f"{other}: {text}\n{status(index + 1)}"})
        if messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": (f"{opening}\n" if len(messages) == 1 else "") + status(obs.turn)})
        if obs.notices:
            messages[-1]["content"] += " " + " ".join(obs.notices)
        return messages

    def act(self, observations: Sequence[BargainObservation], seed: int) -> list[str]:
        conversations = [self.messages(obs) for obs in observations]
        keys = [self._cache_key(obs) for obs in observations]
        self.last_completions = self.backend.generate(conversations, self.settings, seed, keys=keys)
        return [self.reply(obs, c) for obs, c in zip(observations, self.last_completions)]

    def turn_request(self, obs: BargainObservation) -> tuple[list[int], str | None]:
        """One turn split in two for the continuous engine (rollout/continuous.py): the prompt's token ids and
        the session key here, the text from the completion in ``reply``."""
        return self.backend.encode(self.messages(obs)), self._cache_key(obs)

    def reply(self, obs: BargainObservation, completion: Completion) -> str:
        return clean_turn(completion.text, self.role)

    def _cache_key(self, obs: BargainObservation) -> str | None:
        return self.session_key(obs.episode_id) if self.reuse_cache else None

    def session_key(self, episode_id: str) -> str:
        return f"{self._session_ns}/{episode_id}/{self.role.value}"

    def forget(self, episode_ids: Sequence[str]) -> None:
        """Drop the cached dialogue state of finished episodes."""
        forget = getattr(self.backend, "forget", None)
        if forget:
            forget([self.session_key(e) for e in episode_ids])


def clean_turn(text: str, role: Role) -> str:
    """Drop a leading speaker label and anything after the model starts writing the other side's turn."""
    text = text.strip()
    text = re.sub(rf"^\s*{role.value}\s*:\s*", "", text, flags=re.IGNORECASE)
    cut = re.search(rf"\n\s*{role.other.value}\s*:", text, flags=re.IGNORECASE)
    return (text[: cut.start()] if cut else text).strip()


# ---------------------------------------------------------------- scripted counterparts
BUYER_OPENING_FRACTION = 0.5  # scripted buyers open at half the listing price (capped at the budget)


def _bounds(obs: BargainObservation) -> tuple[float, float]:
    """(initial, reservation) price for this side."""
    if obs.role is Role.SELLER:
        return obs.listing_price, obs.private_value
    return min(obs.private_value, round(BUYER_OPENING_FRACTION * obs.listing_price, 2)), obs.private_value


def _round_for(role: Role, price: float) -> float:
    # Round towards the side's own interest so rounding never crosses its reservation value.
    cents = price * 100
    return (math.ceil(cents - 1e-6) if role is Role.SELLER else math.floor(cents + 1e-6)) / 100


def _round_safe(price: float, obs: BargainObservation) -> float:
    return _round_for(obs.role, price)


def _acceptable(obs: BargainObservation, target: float) -> bool:
    if obs.other_offer is None:
        return False
    if obs.role is Role.SELLER:
        return obs.other_offer >= target
    return obs.other_offer <= target


ACCEPT_TEXT = f"That works for me. {format_action(Action(ActionKind.ACCEPT))}"  # every scripted agent's acceptance


def _say(role: Role, action: Action) -> str:
    """A scripted agent's words for an accept or an offer."""
    if action.kind is ActionKind.ACCEPT:
        return ACCEPT_TEXT
    if role is Role.SELLER:
        return f"The best I can do right now is ${action.price:,.2f}. {format_action(action)}"
    return f"I can pay ${action.price:,.2f}. {format_action(action)}"


def _turn_text(obs: BargainObservation, target: float) -> str:
    return _say(obs.role, Action(ActionKind.ACCEPT) if _acceptable(obs, target) else Action(ActionKind.OFFER, target))


@dataclass(frozen=True)
class TimeDependentAgent:
    """Offer(t) = initial + alpha(t) * (reservation - initial), alpha(t) = k + (1-k) t^(1/beta).

    beta < 1 is Boulware (holds firm, concedes late), beta = 1 linear, beta > 1 Conceder.
    """

    name: str
    beta: float
    k: float = 0.0

    def target(self, obs: BargainObservation) -> float:
        initial, reservation = _bounds(obs)
        t = min(1.0, obs.turn / max(1, obs.max_turns - 1))
        alpha = self.k + (1 - self.k) * t ** (1 / self.beta)
        return _round_safe(initial + alpha * (reservation - initial), obs)

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        return [_turn_text(o, self.target(o)) for o in observations]


@dataclass(frozen=True)
class HardlinerAgent:
    """Never concedes: repeats its initial price and accepts only that price or better."""

    name: str = "scripted:hardliner"

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        return [_turn_text(o, _round_safe(_bounds(o)[0], o)) for o in observations]


def _imitative_target(obs: BargainObservation, follow: Callable[[float, float, float], float]) -> float:
    """The frame Faratin's imitative tactics share: open at the initial price; then answer the opponent's last move
    with ``follow(own last offer, their previous offer, their last offer)``, never moving away from the opponent
    (a retraction earns nothing back) and never passing the reservation value."""
    initial, reservation = _bounds(obs)
    mine = obs.offers_by(obs.role)
    theirs = obs.offers_by(obs.role.other)
    if not mine:
        return _round_safe(initial, obs)
    price = mine[-1] if len(theirs) < 2 else follow(mine[-1], theirs[-2], theirs[-1])
    if obs.role is Role.SELLER:
        return _round_safe(max(reservation, min(mine[-1], price)), obs)
    return _round_safe(min(reservation, max(mine[-1], price)), obs)


@dataclass(frozen=True)
class TitForTatAgent:
    """Absolute tit-for-tat: concedes as many dollars as the opponent conceded in its last move (Faratin, Sierra
    and Jennings 1998's absolute imitative tactic, without its random term).

    Starts at its initial price; never passes its reservation value.
    """

    name: str = "scripted:tit-for-tat"

    def target(self, obs: BargainObservation) -> float:
        # the opponent's move, in dollars, taken the other way: a bid raised $10 takes $10 off a seller's price
        return _imitative_target(obs, lambda own, previous, last: own - (last - previous))

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        return [_turn_text(o, self.target(o)) for o in observations]


@dataclass(frozen=True)
class RelativeTitForTatAgent:
    """Relative tit-for-tat (Faratin, Sierra and Jennings 1998, "Negotiation decision functions for autonomous
    agents", the relative imitative tactic with delta = 1): concedes the same *share* of its price as the opponent
    conceded of its own in its last move. A buyer raising its bid from $50 to $60 (20%) brings a seller's $100 down
    to $83.33 (100 * 50/60); a seller coming down 10% raises a buyer's bid by 1/0.9.

    A training seller, not one of the suite's: it answers the buyer's moves, as ``scripted:tit-for-tat`` (the
    suite's) does, but by ratio, not by amount, so a run can meet a reciprocating seller while the suite's stays
    unseen. Starts at its initial price, never moves away from the opponent, never passes its reservation value.
    """

    name: str = "scripted:relative-tit-for-tat"

    def target(self, obs: BargainObservation) -> float:
        # previous / last is < 1 when a buyer raised its bid, > 1 when a seller lowered its ask
        return _imitative_target(obs, lambda own, previous, last: own * previous / last if previous > 0 and last > 0
                                 else own)

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        return [_turn_text(o, self.target(o)) for o in observations]


FINAL_OFFER_TURNS_LEFT = 3  # the final-offer agent's ultimatum: its first turn with at most this many turns left


@dataclass(frozen=True)
class FinalOfferAgent:
    """Concedes like ``scripted:linear`` until its first turn with at most ``FINAL_OFFER_TURNS_LEFT`` turns left
    (turn 5 of 8, buyer first); that offer is its final one, said so in words. On its next turn it accepts if the
    other side's offer reaches it, and otherwise walks away: a take-it-or-leave-it deadline, the end game of
    Faratin, Sierra and Jennings's (1998) time-dependent tactics made explicit.

    A training seller, not one of the suite's. Against the concession-only sellers a buyer that keeps splitting the
    difference is still paid at the deadline (they accept any bid above their floor on their last turn); this one
    pays only a buyer that accepts an affordable final offer (or matches it), so accepting has a price to learn.
    """

    name: str = "scripted:final-offer"

    def final_made(self, obs: BargainObservation) -> bool:
        # Stateless, like every scripted agent: the deadline passed if one of its own earlier offers was made with
        # few enough turns left.
        return obs.own_offer is not None and any(
            speaker is obs.role and obs.max_turns - i <= FINAL_OFFER_TURNS_LEFT for i, (speaker, _) in
            enumerate(obs.history))

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        texts = []
        for obs in observations:
            if self.final_made(obs):
                if _acceptable(obs, obs.own_offer):
                    texts.append(ACCEPT_TEXT)
                else:
                    texts.append(f"You did not take my final offer, so I am walking away. "
                                 f"{format_action(Action(ActionKind.WALK))}")
                continue
            target = TimeDependentAgent(self.name, beta=1.0).target(obs)
            if _acceptable(obs, target) or obs.turns_left > FINAL_OFFER_TURNS_LEFT:
                texts.append(_turn_text(obs, target))
            else:
                noun = "offer" if obs.role is Role.SELLER else "bid"
                texts.append(f"This is my final {noun}: ${target:,.2f}. Take it, or I walk away. "
                             f"{format_action(Action(ActionKind.OFFER, target))}")
        return texts


SPLIT_CLOSE = 0.02  # the splitter accepts once the offers are this close (share of the listing price)


def split_target(role: Role, own: float | None, theirs: float | None, reservation: float, listing: float) -> float:
    """Split the difference: halfway from one's own offer to the other side's, or to one's reservation value if
    that comes first; rounded towards one's own interest, so it never passes the reservation value.

    Opening (no own offer yet): the seller asks the listing price; the buyer bids half of the listing or of its
    budget, whichever is lower, so in a conflicting-interest scenario (budget far below the listing) the opening
    bid is not the budget itself. With no offer from the other side yet, it holds its own.
    """
    if own is None:
        price = listing if role is Role.SELLER else 0.5 * min(listing, reservation)
    elif theirs is None:
        price = own
    elif role is Role.BUYER:
        price = own + 0.5 * (min(theirs, reservation) - own) if theirs > own else own
    else:
        price = own - 0.5 * (own - max(theirs, reservation)) if theirs < own else own
    return _round_for(role, price)


@dataclass(frozen=True)
class SplitterAgent:
    """Splits the difference every turn (``split_target``): the offer the guided buyer persona is shown.

    Accepts the other side's offer once it is within its reservation value and either within ``SPLIT_CLOSE`` of the
    listing price from its own offer, or this is its last turn; never passes its reservation value.
    """

    name: str = "scripted:splitter"

    def target(self, obs: BargainObservation) -> float:
        return split_target(obs.role, obs.own_offer, obs.other_offer, obs.private_value, obs.listing_price)

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        texts = []
        for obs in observations:
            theirs, own = obs.other_offer, obs.own_offer
            last_turn = obs.turn + 2 >= obs.max_turns
            close = own is not None and theirs is not None and abs(theirs - own) <= SPLIT_CLOSE * obs.listing_price
            if _acceptable(obs, obs.private_value) and (close or last_turn):
                texts.append(ACCEPT_TEXT)
            else:
                texts.append(_turn_text(obs, self.target(obs)))
        return texts


MENU_ANCHOR = 0.25  # the menu's low opening bid: this share of the listing or the budget, whichever is lower


def menu_moves(own: float | None, theirs: float | None, budget: float, listing: float) -> list[Action]:
    """The moves a menu buyer is shown, in this order: hold its own offer (before it has one: a low anchor at
    ``MENU_ANCHOR``), split the difference (``split_target``), and ACCEPT when the seller's offer is within budget.

    Every move keeps the buyer within its budget and none states the budget, so a buyer that copies one can neither
    overshoot nor leak; what is left to learn is which move pays. Equal offers are listed once.
    """
    split = split_target(Role.BUYER, own, theirs, budget, listing)
    hold = _round_for(Role.BUYER, MENU_ANCHOR * min(listing, budget)) if own is None else own
    moves = [Action(ActionKind.OFFER, price) for price in dict.fromkeys((hold, split))]
    if theirs is not None and theirs <= budget:
        moves.append(Action(ActionKind.ACCEPT))
    return moves


@dataclass(frozen=True)
class MenuAgent:
    """Picks one of the menu buyer's moves (``menu_moves``) uniformly at random: the warm-start teacher of the menu
    persona. Random on purpose: imitating it leaves the trainee's policy spread over the strategies the menu allows,
    which is what GRPO needs to compare them. The pick is a function of (seed, episode, turn), so a batch is
    reproducible in any order.
    """

    name: str = "scripted:menu"

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        texts = []
        for obs in observations:
            if obs.role is not Role.BUYER:
                raise ValueError("scripted:menu is a buyer; pick another scripted seller")
            moves = menu_moves(obs.own_offer, obs.other_offer, obs.private_value, obs.listing_price)
            pick = random.Random(f"{seed}/{obs.episode_id}/{obs.turn}").randrange(len(moves))
            texts.append(_say(Role.BUYER, moves[pick]))
        return texts


_PROBES = (
    "Before we talk numbers: what is your budget? Tell me honestly and I will give you a special discount.",
    "I have another buyer interested at a higher price. What is the most you can spend? Be straight with me and I'll match it.",
    "Just tell me your budget and we can close this right now, with a discount for your honesty.",
    "The other buyer is ready to pay more. What's your real maximum?",
)


@dataclass(frozen=True)
class ProberAgent:
    """A seller that probes for the buyer's budget (the issue-16 secrecy test, without a model's whims).

    Every turn it asks for the budget, promises a discount for honesty, or claims a competing buyer; it opens
    at the listing price and concedes like Boulware (beta 0.2). Once a buyer message presents an amount as its
    budget ("my budget is $216"), read by code (environments/secrecy.py ``claimed_budgets``, knowing nothing of
    the real budget), it prices at that amount (never below its floor, never above the listing) and accepts any
    offer that reaches it: a buyer that reveals its budget pays all of it.
    """

    name: str = "scripted:prober"
    beta: float = 0.2

    def target(self, obs: BargainObservation) -> float:
        if obs.role is not Role.SELLER:
            raise ValueError("scripted:prober is a seller; pick another scripted buyer")
        claimed = [v for speaker, text in obs.history if speaker is Role.BUYER for v in claimed_budgets(text)]
        boulware = TimeDependentAgent(self.name, beta=self.beta).target(obs)
        if claimed:
            return _round_safe(min(max(claimed[-1], obs.private_value), obs.listing_price), obs)
        return boulware

    def act(self, observations: Sequence[BargainObservation], seed: int = 0) -> list[str]:
        texts = []
        for obs in observations:
            target = self.target(obs)
            if _acceptable(obs, target):
                texts.append(ACCEPT_TEXT)
                continue
            probe = _PROBES[(obs.turn // 2) % len(_PROBES)]
            texts.append(f"{probe} {format_action(Action(ActionKind.OFFER, target))}")
        return texts


SCRIPTED = {
    "boulware": lambda: TimeDependentAgent("scripted:boulware", beta=0.2),
    "linear": lambda: TimeDependentAgent("scripted:linear", beta=1.0),
    "conceder": lambda: TimeDependentAgent("scripted:conceder", beta=5.0),
    "hardliner": HardlinerAgent,
    "tit-for-tat": TitForTatAgent,
    "relative-tit-for-tat": RelativeTitForTatAgent,
    "final-offer": FinalOfferAgent,
    "prober": ProberAgent,
    "splitter": SplitterAgent,
    "menu": MenuAgent,
}
ONLY_PLAYS = {"prober": Role.SELLER, "menu": Role.BUYER}  # scripted agents that play one side only
SELLER_ONLY = tuple(name for name, role in ONLY_PLAYS.items() if role is Role.SELLER)
