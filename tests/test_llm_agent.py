from parley.models.backends import Completion, GenerationStats
from parley.agents.bargainer import BargainLLMAgent, clean_turn
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios

S = sample_scenarios("test", 1, seed=2)[0]


class Recorder:
    """A backend that records the conversations it is given and answers with fixed text."""

    name = "recorder"

    def __init__(self, reply="OFFER: $10"):
        self.reply, self.seen, self.stats = reply, [], GenerationStats()

    def generate(self, conversations, settings, seed, keys=None):
        self.seen.extend(conversations)
        return [Completion(self.reply) for _ in conversations]


def test_each_side_sees_only_its_own_private_value():
    env = BargainEnv(ProtocolConfig())
    env.reset(S)
    buyer = BargainLLMAgent("b", Recorder(), Role.BUYER)
    seller = BargainLLMAgent("s", Recorder(), Role.SELLER, persona="hostile")
    env.step(buyer.act([env.observe(Role.BUYER)], seed=0)[0])
    env.step(seller.act([env.observe(Role.SELLER)], seed=0)[0])
    buyer.act([env.observe(Role.BUYER)], seed=0)
    b_text = str(buyer.backend.seen)
    s_text = str(seller.backend.seen)
    assert f"{S.budget:,.2f}" in b_text and f"{S.floor:,.2f}" not in b_text
    assert f"{S.floor:,.2f}" in s_text and f"{S.budget:,.2f}" not in s_text
    assert "tough" in seller.backend.seen[0][0]["content"]  # hostile persona prompt
    assert seller.prompt_id == "seller_hostile.v1" and buyer.prompt_id == "buyer.v1"


def test_messages_alternate_user_and_assistant():
    env = BargainEnv(ProtocolConfig(first_mover=Role.SELLER))
    env.reset(S)
    agent = BargainLLMAgent("s", Recorder(), Role.SELLER)
    for text in ("OFFER: $500", "OFFER: $100", "OFFER: $450", "OFFER: $150"):
        env.step(text)
    msgs = agent.messages(env.observe(Role.SELLER))
    roles = [m["role"] for m in msgs]
    assert roles[0] == "system" and roles[1] == "user"
    assert all(a != b for a, b in zip(roles[1:], roles[2:]))
    assert roles[-1] == "user" and "Turn 5 of 10" in msgs[-1]["content"]


def test_clean_turn_drops_labels_and_invented_replies():
    assert clean_turn("Buyer: OFFER: $5\nSeller: ACCEPT", Role.BUYER) == "OFFER: $5"
    assert clean_turn("  hello  ", Role.SELLER) == "hello"


def test_past_messages_render_identically_in_later_turns():
    """The K/V cache reuse depends on each turn's prompt extending the previous one unchanged."""
    env = BargainEnv(ProtocolConfig())
    env.reset(S)
    agent = BargainLLMAgent("b", Recorder(), Role.BUYER)
    previous = None
    a, b = S.listing_price - 1, S.listing_price - 2
    for text in ("OFFER: $5", f"OFFER: ${a:.2f}", "hello", f"OFFER: ${b:.2f}", "OFFER: $7", "ok"):
        if env.agent_selection is Role.BUYER:
            current = agent.messages(env.observe(Role.BUYER))
            if previous is not None:
                assert current[:len(previous)] == previous
                assert "[Turn" in current[-1]["content"]
            previous = current + [{"role": "assistant", "content": text}]
        env.step(text)
    # the status of each past message reflects the offers standing at that time
    msgs = agent.messages(env.observe(Role.BUYER))
    assert msgs[3]["content"].startswith("Seller: OFFER") and f"Seller's current offer: ${a:,.2f}" in msgs[3]["content"]
    assert f"Seller's current offer: ${b:,.2f}. Your current offer: $7.00. Your budget: ${S.budget:,.2f}.]" in msgs[-1]["content"]
    seller = BargainLLMAgent("s", Recorder(), Role.SELLER).messages(env.observe(Role.SELLER))
    assert seller[-1]["content"].endswith(f"Your floor: ${S.floor:,.2f}.]")  # each side sees only its own limit
    assert f"{S.budget:,.2f}" not in str(seller) and f"{S.floor:,.2f}" not in str(msgs)
