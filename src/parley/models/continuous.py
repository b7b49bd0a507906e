"""Continuous batching on a local transformers model: a fixed set of decoding slots, refilled mid-flight.

``HFBackend.generate`` decodes a batch until its longest row ends, so rows that finished their turn wait idle,
and the next turn of a dialogue can only start at the next call. Here every dialogue turn is a request; each
step admits queued requests into free slots (prefilling only the tokens their slot does not already hold),
then decodes one token in every busy slot. A request that ends frees its slot at once, and the slot takes the
next request in the same step: the next turn of the same dialogue (whose K/V is still in the slot) or a new
episode.

Each request samples with its own ``torch.Generator`` seeded by the caller, so what a dialogue says does not
depend on which other requests shared its steps: the same seed gives the same transcripts at any slot count.

transformers' own continuous batching (``generate_batch`` / ``ContinuousBatchingManager``) runs a background
thread with a shared sampler, so its transcripts depend on thread timing, and it keeps no dialogue's K/V from one
turn to the next; hence this small engine. It needs a decoder that takes a ``Cache``-like cache argument
(``update(keys, values, layer_idx)``) and a 4D attention mask, as Llama, Qwen2 and Mistral in transformers do.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import torch

from parley.models.compat import with_cache
from parley.models.backends import Completion, GenerationStats, HFBackend, common_prefix
from parley.models.generation import GenerationSettings


@dataclass
class Request:
    """One turn to generate: the whole prompt (the engine skips what the slot already holds)."""

    prompt: list[int]
    seed: int
    settings: GenerationSettings
    key: str | None = None  # the dialogue's session key: its next turn reuses the slot's K/V
    on_done: Callable[[Completion], None] | None = None
    # filled in by the engine
    generated: list[int] = field(default_factory=list)
    generator: torch.Generator | None = None
    completion: Completion | None = None


_MIN_SHARED = 16  # shortest prefix worth copying from another slot instead of recomputing


def kv_geometry(model) -> tuple[int, int, int]:
    """(layers, key/value heads, head dim) of a decoder: the shape of its K/V per position."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    return text.num_hidden_layers, kv_heads, getattr(text, "head_dim", None) or text.hidden_size // heads


class _SlotCache:
    """K/V for every slot, [slots, kv_heads, length, head_dim] per layer, written per row at each row's own
    positions. The model calls ``update`` once per layer; it writes the new keys and values in place and returns
    those of the rows in flight, up to ``width`` positions."""

    def __init__(self, layers: int, slots: int, kv_heads: int, head_dim: int, length: int, dtype, device) -> None:
        self.keys = [torch.zeros(slots, kv_heads, length, head_dim, dtype=dtype, device=device) for _ in range(layers)]
        self.values = [torch.zeros_like(k) for k in self.keys]
        self.rows: torch.Tensor | None = None  # slot index of each batch row
        self.positions: torch.Tensor | None = None  # [rows, q] absolute positions to write
        self.width = 0
        self.all_rows = False  # rows == every slot in order: attend to a view, not a gathered copy

    @property
    def length(self) -> int:
        return self.keys[0].shape[2]

    def grow(self, needed: int) -> None:
        length = self.length
        while length < needed:
            length *= 2
        if length == self.length:
            return
        extra = length - self.length
        self.keys = [torch.cat([k, k.new_zeros(k.shape[0], k.shape[1], extra, k.shape[3])], dim=2) for k in self.keys]
        self.values = [torch.cat([v, v.new_zeros(v.shape[0], v.shape[1], extra, v.shape[3])], dim=2) for v in self.values]

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        rows, pos = self.rows, self.positions  # [r], [r, q]
        k_all, v_all = self.keys[layer_idx], self.values[layer_idx]
        # Advanced indexing writes in place: k_all[row, :, pos] for every (row, query position).
        r_index = rows[:, None].expand_as(pos)
        k_all[r_index, :, pos] = key_states.transpose(1, 2)
        v_all[r_index, :, pos] = value_states.transpose(1, 2)
        if self.all_rows:
            return k_all[:, :, :self.width], v_all[:, :, :self.width]
        return k_all[rows, :, :self.width], v_all[rows, :, :self.width]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.width

    def is_compileable(self) -> bool:  # transformers asks some caches this
        return False


class SlotEngine:
    """Continuous batching over ``slots`` decoding slots of one model (see the module docstring).

    ``submit`` queues a request (``front=True`` puts it first: a dialogue that continues, whose K/V is in a
    slot, goes before a new episode); ``step`` admits, prefills and decodes one token in every busy slot, and
    calls each finished request's ``on_done``; ``run`` steps until nothing is left.
    """

    def __init__(self, model, tokenizer, stop_ids: list[int], pad_id: int, slots: int = 32, context: int = 1024,
                 stats: GenerationStats | None = None) -> None:
        layers, kv_heads, head_dim = kv_geometry(model)
        self.model, self.tokenizer, self.stop_ids, self.pad_id = model, tokenizer, set(stop_ids), pad_id
        self.decoder = model.get_decoder()
        self.head = model.get_output_embeddings()
        self.cache = _SlotCache(layers, slots, kv_heads, head_dim, context, model.dtype, model.device)
        self.slots = slots
        self.slot_ids: list[list[int]] = [[] for _ in range(slots)]  # tokens whose K/V the slot holds
        self.slot_key: list[str | None] = [None] * slots
        self.slot_used = [0] * slots  # last step a slot served, for least-recently-used reassignment
        self.busy: dict[int, Request] = {}
        self.queue: deque[Request] = deque()
        self.stats = stats if stats is not None else GenerationStats()
        self._clock = 0

    @classmethod
    def of(cls, backend: HFBackend, slots: int = 32) -> SlotEngine:
        """An engine over a local backend's model, sharing its stats."""
        return cls(backend.model, backend.tokenizer, backend.stop_ids, backend.tokenizer.pad_token_id, slots=slots,
                   stats=backend.stats)

    # -- queueing ----------------------------------------------------------------------------------------------
    def submit(self, request: Request, front: bool = False) -> None:
        if not request.prompt:
            raise ValueError("a request needs at least one prompt token")
        (self.queue.appendleft if front else self.queue.append)(request)

    def forget(self, keys) -> None:
        keys = set(keys)
        for s in range(self.slots):
            if self.slot_key[s] in keys and s not in self.busy:
                self.slot_key[s], self.slot_ids[s] = None, []

    def pending(self) -> bool:
        return bool(self.queue or self.busy)

    def run(self) -> None:
        while self.pending():
            self.step()

    # -- one step ----------------------------------------------------------------------------------------------
    def step(self) -> list[Request]:
        began = time.perf_counter()
        self._clock += 1
        admitted = self._admit()
        finished: list[Request] = []
        if admitted:
            finished += self._prefill(admitted)
        if self.busy:  # every busy request has a token to feed: admission prefilled the new ones above
            finished += self._decode(sorted(self.busy))
        self.stats.seconds += time.perf_counter() - began
        for request in finished:
            if request.on_done:
                request.on_done(request.completion)
        return finished

    def _free_slot(self, key: str | None) -> int | None:
        free = [s for s in range(self.slots) if s not in self.busy]
        if not free:
            return None
        if key is not None:
            for s in free:
                if self.slot_key[s] == key:
                    return s
        return min(free, key=lambda s: (self.slot_key[s] is not None, self.slot_used[s]))

    def _admit(self) -> list[tuple[int, int]]:
        admitted = []
        while self.queue:
            request = self.queue[0]
            slot = self._free_slot(request.key)
            if slot is None:
                break
            self.queue.popleft()
            reuse = 0
            if request.key is not None and self.slot_key[slot] == request.key:
                reuse = min(common_prefix(self.slot_ids[slot], request.prompt), len(request.prompt) - 1)
            else:
                reuse = self._borrow_prefix(slot, request.prompt)
            self.slot_key[slot], self.slot_ids[slot] = request.key, list(request.prompt[:reuse])
            request.generator = torch.Generator(device="cpu").manual_seed(request.seed % (2**63))
            self.busy[slot] = request
            admitted.append((slot, reuse))
        return admitted

    def _borrow_prefix(self, slot: int, prompt: list[int]) -> int:
        """Copy into ``slot`` the K/V of the longest prefix of ``prompt`` that another slot already holds (another
        episode's copy of the same instructions): positions are absolute, so those keys and values are the ones a
        prefill would compute. Returns how many positions were copied (0 below ``_MIN_SHARED``)."""
        best, donor = 0, None
        for other in range(self.slots):
            if other != slot and len(self.slot_ids[other]) > best:
                n = common_prefix(self.slot_ids[other], prompt)
                if n > best:
                    best, donor = n, other
        best = min(best, len(prompt) - 1)
        if donor is None or best < _MIN_SHARED:
            return 0
        for k, v in zip(self.cache.keys, self.cache.values):
            k[slot, :, :best] = k[donor, :, :best]
            v[slot, :, :best] = v[donor, :, :best]
        return best

    def _forward(self, rows: list[int], tokens: list[list[int]], starts: list[int], lengths: list[int]):
        """Run ``tokens`` (right-padded to one width) of each slot in ``rows`` from position ``starts[i]``;
        the hidden state of each row's last real token."""
        device = self.model.device
        q = max(len(t) for t in tokens)
        width = max(s + q for s in starts)
        self.cache.grow(width)
        ids = torch.tensor([t + [self.pad_id] * (q - len(t)) for t in tokens], device=device)
        start = torch.tensor(starts, device=device)
        positions = start[:, None] + torch.arange(q, device=device)[None, :]
        # Query i of a row sees keys 0..starts+i of its own slot: its past and its own causal prefix.
        keys = torch.arange(width, device=device)
        mask = (keys[None, None, :] <= positions[:, :, None])[:, None]
        if getattr(self.model.config, "_attn_implementation", "sdpa") != "sdpa":  # eager adds a float mask
            mask = torch.zeros(mask.shape, dtype=self.model.dtype, device=device).masked_fill(~mask, torch.finfo(self.model.dtype).min)
        self.cache.rows = torch.tensor(rows, device=device)
        self.cache.positions = positions
        self.cache.width = width
        self.cache.all_rows = rows == list(range(self.slots))
        self.stats.forwards += 1
        self.stats.kv_reads += len(rows) * width
        with torch.inference_mode():
            out = self.decoder(input_ids=ids, attention_mask=mask, position_ids=positions,
                               use_cache=True, **with_cache(self.cache))
            hidden = out.last_hidden_state
            last = hidden[torch.arange(len(rows), device=device), torch.tensor(lengths, device=device) - 1]
            return self.head(last).float()

    def _prefill(self, admitted: list[tuple[int, int]]) -> list[Request]:
        fresh = [slot for slot, reuse in admitted if reuse == 0]
        if len(fresh) > 1:
            # New episodes admitted together share their instructions: prefill one of them first, then copy its
            # K/V of the shared prefix into the others' slots (as lockstep's shared-prefix pass does).
            leader = fresh[0]
            prompt = self.busy[leader].prompt
            if max(common_prefix(prompt, self.busy[s].prompt) for s in fresh[1:]) >= _MIN_SHARED:
                finished = self._prefill_rows([(leader, 0)])
                rest = []
                for slot, reuse in admitted:
                    if slot == leader:
                        continue
                    if reuse == 0:
                        reuse = self._borrow_prefix(slot, self.busy[slot].prompt)
                        self.slot_ids[slot] = list(self.busy[slot].prompt[:reuse])
                    rest.append((slot, reuse))
                return finished + self._prefill_rows(rest)
        return self._prefill_rows(admitted)

    def _prefill_rows(self, admitted: list[tuple[int, int]]) -> list[Request]:
        rows = [s for s, _ in admitted]
        tokens = [self.busy[s].prompt[r:] for s, r in admitted]
        logits = self._forward(rows, tokens, [r for _, r in admitted], [len(t) for t in tokens])
        self.stats.calls += 1
        self.stats.prompt_tokens += sum(len(t) for t in tokens)
        for (slot, _), t in zip(admitted, tokens):
            self.slot_ids[slot] += t
        return self._sample(rows, logits)

    def _decode(self, rows: list[int]) -> list[Request]:
        busy = rows
        if len(rows) < self.slots and 2 * len(rows) >= self.slots:
            # Feed the idle slots too (a pad at the first position past what they hold; nothing reads it back):
            # the model then attends to the whole cache as a view, where a subset of rows would be a gathered copy
            # of their K/V at every layer, which costs more than a few extra rows of compute.
            rows = list(range(self.slots))
        tokens = [[self.busy[s].generated[-1]] if s in self.busy else [self.pad_id] for s in rows]
        logits = self._forward(rows, tokens, [len(self.slot_ids[s]) for s in rows], [1] * len(rows))
        if len(rows) != len(busy):
            logits = logits[torch.tensor(busy, device=logits.device)]
        for s in busy:
            self.slot_ids[s].append(self.busy[s].generated[-1])
        return self._sample(busy, logits)

    def _sample(self, rows: list[int], logits: torch.Tensor) -> list[Request]:
        requests = [self.busy[slot] for slot in rows]
        tokens = _next_tokens(logits, [r.settings for r in requests], [r.generator for r in requests])
        finished = []
        for slot, request, token in zip(rows, requests, tokens):
            request.generated.append(token)
            self.slot_used[slot] = self._clock
            if token in self.stop_ids or len(request.generated) >= request.settings.max_new_tokens:
                finished.append(self._finish(slot))
        return finished

    def _finish(self, slot: int) -> Request:
        request = self.busy.pop(slot)
        self.stats.sequences += 1
        self.stats.new_tokens += len(request.generated)
        # The slot holds K/V for the prompt and every generated token but the last (never fed back).
        ids = request.generated
        body = ids[:-1] if ids and ids[-1] in self.stop_ids else ids
        request.completion = Completion(self.tokenizer.decode(body, skip_special_tokens=True), list(request.prompt), list(ids))
        if request.key is None:
            self.slot_ids[slot], self.slot_key[slot] = [], None
        return request


_NUCLEUS_CANDIDATES = 256  # the top tokens searched first for the nucleus; it nearly always lies among them


def _next_tokens(logits: torch.Tensor, settings: list[GenerationSettings], generators: list[torch.Generator]) -> list[int]:
    """One token per row: greedy rows take the argmax; sampling rows apply what transformers' ``generate`` applies,
    in its order: the temperature, top-k (TopKLogitsWarper: the k most likely tokens, renormalised), then the
    nucleus (TopPLogitsWarper: keep the tokens ranked above the point where the probability mass before them
    reaches ``top_p``, at least one), and draw from their own generator.

    The filtering runs for all rows at once on the top ``_NUCLEUS_CANDIDATES`` tokens (sorting the whole
    49k-token vocabulary row by row took a third of a decoding step); a row whose top-k or nucleus is wider than
    that falls back to the full sort. Each row's arithmetic is row-wise, so a row draws the same token whatever the
    other rows are."""
    out = torch.argmax(logits, dim=-1).tolist()
    sampled = [i for i, s in enumerate(settings) if s.do_sample]
    if not sampled:
        return out
    index = torch.tensor(sampled, device=logits.device)
    temperature = torch.tensor([max(settings[i].temperature, 1e-6) for i in sampled], device=logits.device)
    top_p = torch.tensor([settings[i].top_p for i in sampled], device=logits.device)
    vocab = logits.shape[-1]
    top_k = torch.tensor([min(settings[i].top_k or vocab, vocab) for i in sampled], device=logits.device)
    probs = (logits[index] / temperature[:, None]).softmax(-1)
    k = min(_NUCLEUS_CANDIDATES, vocab)
    values, tokens = probs.topk(k, dim=-1)  # descending
    in_top_k = torch.arange(k, device=logits.device)[None, :] < top_k[:, None]
    values = values * in_top_k
    small_k = top_k <= k
    # With top-k inside the candidates its mass is known: renormalise to it, as the nucleus then sees it.
    values = torch.where(small_k[:, None], values / values.sum(-1, keepdim=True), values)
    before = values.cumsum(-1) - values  # mass ranked above each candidate
    keep = (before < top_p[:, None]) & in_top_k
    keep[:, 0] = True
    # Without top-k (k = the vocabulary) the nucleus lies among the candidates once their mass reaches top_p; a
    # top-k wider than the candidates but short of the vocabulary needs its own mass, so the full sort.
    covered = small_k | ((top_k >= vocab) & (values.sum(-1) >= top_p) & (top_p < 1.0))
    kept = values * keep
    for j, i in enumerate(sampled):
        if bool(covered[j]):
            out[i] = int(tokens[j, torch.multinomial(kept[j], 1, generator=generators[i])])
        else:
            out[i] = _sample_full(probs[j], float(top_p[j]), int(top_k[j]), generators[i])
    return out


def _sample_full(probs: torch.Tensor, top_p: float, top_k: int, generator: torch.Generator) -> int:
    """Top-k then the nucleus over the whole vocabulary (top-k or the nucleus wider than the candidates)."""
    if top_k >= probs.shape[-1] and top_p >= 1.0:
        return int(torch.multinomial(probs, 1, generator=generator))
    values, order = torch.sort(probs, descending=True)
    values, order = values[:top_k], order[:top_k]
    values = values / values.sum()
    if top_p < 1.0:
        keep = (values.cumsum(-1) - values) < top_p
        keep[0] = True
        values = values * keep
    return int(order[torch.multinomial(values, 1, generator=generator)])
