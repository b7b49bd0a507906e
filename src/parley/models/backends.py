"""Text generation backends: a local transformers model (batched) or an OpenAI-compatible server."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from parley import ParleyError
from parley.models.generation import GenerationSettings

Conversation = list[dict]


@dataclass
class Completion:
    text: str
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)  # exactly the sampled ids (eos included)
    logprobs: list[float] | None = None  # sampling log-probabilities of completion_ids, where the backend has them


@dataclass
class GenerationStats:
    calls: int = 0
    sequences: int = 0
    new_tokens: int = 0
    prompt_tokens: int = 0  # prompt tokens actually run through the model (after cache reuse)
    seconds: float = 0.0
    # For the memory-bandwidth bound of decoding (benchmarks/rollout.py): every forward reads all the weights
    # once, and attention reads the K/V of every position it attends to, per row.
    forwards: int = 0  # model forward passes (prefills and decoding steps)
    kv_reads: int = 0  # K/V positions read by attention, summed over rows, forwards and (not counted) layers

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


class Backend(Protocol):
    name: str
    stats: GenerationStats

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int,
                 keys: Sequence[str] | None = None) -> list[Completion]: ...


@dataclass
class _Session:
    """What one dialogue (episode x role) has already run through the model: token ids and their K/V."""

    ids: list[int]
    kv: list[tuple]  # per layer (keys, values), each [kv_heads, len(ids), head_dim]


class HFBackend:
    """Batched generation with left padding and an attention mask, using the model's chat template.

    Multi-turn dialogues re-send the whole conversation every turn. When ``generate`` gets a session
    key per conversation, the backend keeps each dialogue's K/V cache and, next turn, runs only the
    tokens after the longest common prefix of token ids (so a re-tokenisation difference can only
    cost reuse, never correctness). In a batch, rows are laid out as
    ``[pad][cached prefix][pad][new tokens]``; position ids come from the attention mask, so the holes
    are invisible to the model. transformers has no such cross-call prefix cache (vLLM's automatic
    prefix caching is the GPU equivalent), hence this small piece of code.
    """

    def __init__(self, model, tokenizer, name: str, cache_tokens: int = 65_536) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stop_ids = sorted({i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"))
                                if isinstance(i, int) and i != tokenizer.unk_token_id})
        self.stats = GenerationStats()
        self.cache_tokens = cache_tokens  # bound on tokens kept across all sessions (LRU eviction)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._prefixes: dict[tuple[int, ...], _Session] = {}  # shared prompt prefixes (few, small)

    def render(self, conversation: Conversation) -> str:
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def encode(self, conversation: Conversation) -> list[int]:
        return self.tokenizer(self.render(conversation), add_special_tokens=False)["input_ids"]

    def forget(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._sessions.pop(key, None)

    def clear(self) -> None:
        """Drop every cached K/V (the weights changed, e.g. after an optimizer step)."""
        self._sessions.clear()
        self._prefixes.clear()

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int,
                 keys: Sequence[str] | None = None) -> list[Completion]:
        prompt_ids = [self.encode(c) for c in conversations]
        return self.generate_ids(prompt_ids, settings, seed, keys)

    def generate_ids(self, prompt_ids: Sequence[list[int]], settings: GenerationSettings, seed: int,
                     keys: Sequence[str] | None = None) -> list[Completion]:
        """Generate from token ids as given (token-in, token-out: training never re-encodes a turn)."""
        from transformers import GenerationConfig

        gen_config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample,
            temperature=settings.temperature if settings.do_sample else None,
            top_p=settings.top_p if settings.do_sample else None,
            # Never None: generate fills an unset top_k with 50, and 0 is how it is turned off.
            top_k=settings.top_k if settings.do_sample else 0,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.stop_ids, return_dict_in_generate=True,
            disable_compile=True,  # shapes change every call; recompiling would cost more than it saves
        )
        prompt_ids = [list(p) for p in prompt_ids]
        keys = list(keys) if keys is not None else [None] * len(prompt_ids)
        results: list[Completion] = []
        for start in range(0, len(prompt_ids), settings.batch_size):
            stop = start + settings.batch_size
            results.extend(self._generate_chunk(prompt_ids[start:stop], keys[start:stop], gen_config, seed + start))
        self._evict()
        return results

    def _generate_chunk(self, prompts: list[list[int]], keys: list, gen_config, seed: int) -> list[Completion]:
        import torch
        from transformers import StaticCache

        from parley.models.compat import cache_of, with_cache

        pad = self.tokenizer.pad_token_id
        sessions = [self._sessions.get(k) if k is not None else None for k in keys]
        # Reuse at most len(prompt) - 1 tokens: the model must see at least one new token.
        reuse = [min(common_prefix(s.ids, p), len(p) - 1) if s else 0 for s, p in zip(sessions, prompts)]
        fresh = [i for i, r in enumerate(reuse) if r == 0]
        if len(fresh) > 1 and all(k is not None for k in keys):
            shared = self._shared_prefix([prompts[i] for i in fresh])
            if shared is not None:
                for i in fresh:
                    sessions[i], reuse[i] = shared, min(len(shared.ids), len(prompts[i]) - 1)
        width_cached = max(reuse)
        width_new = max(len(p) - r for p, r in zip(prompts, reuse))
        ids, mask = [], []
        for p, r in zip(prompts, reuse):
            new = p[r:]
            ids.append([pad] * (width_cached - r) + p[:r] + [pad] * (width_new - len(new)) + new)
            mask.append([0] * (width_cached - r) + [1] * r + [0] * (width_new - len(new)) + [1] * len(new))
        device = self.model.device
        input_ids = torch.tensor(ids, device=device)
        attention_mask = torch.tensor(mask, device=device)
        # A preallocated cache: a growing DynamicCache copies every layer's K/V at each decoding step,
        # which at batch 32 and ~800 tokens of context costs more than the attention itself.
        cache_len = input_ids.shape[1] + gen_config.max_new_tokens
        cache = StaticCache(config=self.model.config, max_cache_len=cache_len)
        if width_cached:
            for layer, (k, v) in zip(cache.layers, self._batch_cache(sessions, reuse, width_cached)):
                layer.update(k, v)
        torch.manual_seed(seed)
        began = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=gen_config,
                                      **with_cache(cache))
        self.stats.seconds += time.perf_counter() - began
        self.stats.calls += 1
        self.stats.sequences += len(prompts)
        self.stats.prompt_tokens += sum(len(p) - r for p, r in zip(prompts, reuse))
        width = input_ids.shape[1]
        # The static cache is attended over its whole length at every step (masked, not sliced).
        steps = out.sequences.shape[1] - width
        self.stats.forwards += steps
        self.stats.kv_reads += len(prompts) * cache_len * steps
        layers = [(layer.keys, layer.values) for layer in cache_of(out).layers]
        results = []
        for row, (prompt, key) in enumerate(zip(prompts, keys)):
            completion = _cut_at_stop(out.sequences[row, width:].tolist(), self.stop_ids)
            self.stats.new_tokens += len(completion)
            if key is not None:
                # K/V exist for every fed token: the prompt's real positions, then all generated but the last.
                n_gen = min(len(completion), out.sequences.shape[1] - 1 - width)
                keep = attention_mask[row].nonzero().squeeze(-1)
                keep = torch.cat([keep, torch.arange(width, width + n_gen, device=device)])
                self._sessions[key] = _Session(prompt + completion[:n_gen],
                                               [(k[row][:, keep].clone(), v[row][:, keep].clone()) for k, v in layers])
                self._sessions.move_to_end(key)
            body = completion[:-1] if completion and completion[-1] in self.stop_ids else completion
            results.append(Completion(self.tokenizer.decode(body, skip_special_tokens=True), prompt, completion))
        return results

    def _shared_prefix(self, prompts: list[list[int]], min_tokens: int = 16) -> _Session | None:
        """K/V of the prefix that all these prompts share (a persona's generic instructions), computed once."""
        import torch

        from parley.models.compat import cache_of

        n = min(len(p) for p in prompts)
        for p in prompts[1:]:
            n = min(n, common_prefix(prompts[0][:n], p))
        if n < min_tokens:
            return None
        ids = prompts[0][:n]
        cached = self._prefixes.get(tuple(ids))
        if cached is None:
            with torch.inference_mode():
                out = self.model(input_ids=torch.tensor([ids], device=self.model.device), use_cache=True)
            self.stats.prompt_tokens += n
            cached = _Session(ids, [(layer.keys[0].clone(), layer.values[0].clone()) for layer in cache_of(out).layers])
            if len(self._prefixes) >= 8:
                self._prefixes.pop(next(iter(self._prefixes)))
            self._prefixes[tuple(ids)] = cached
        return cached

    def _batch_cache(self, sessions, reuse: list[int], width: int) -> list[tuple]:
        layers = []
        ref = next(s for s, r in zip(sessions, reuse) if r)
        for layer in range(len(ref.kv)):
            k0, v0 = ref.kv[layer]
            keys = k0.new_zeros((len(sessions), k0.shape[0], width, k0.shape[2]))
            values = v0.new_zeros((len(sessions), v0.shape[0], width, v0.shape[2]))
            for row, (s, r) in enumerate(zip(sessions, reuse)):
                if r:
                    keys[row, :, width - r:] = s.kv[layer][0][:, :r]
                    values[row, :, width - r:] = s.kv[layer][1][:, :r]
            layers.append((keys, values))
        return layers

    def _evict(self) -> None:
        total = sum(len(s.ids) for s in self._sessions.values())
        while self._sessions and total > self.cache_tokens:
            _, session = self._sessions.popitem(last=False)
            total -= len(session.ids)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _cut_at_stop(ids: list[int], stop_ids: list[int]) -> list[int]:
    for i, tok in enumerate(ids):
        if tok in stop_ids:
            return ids[: i + 1]
    return ids


class OpenAIBackend:
    """Any OpenAI-compatible chat server: vLLM, Ollama, llama.cpp, a hosted API.

    ``top_k`` is not sent: the chat completions API has no such field (hosted APIs refuse unknown ones), so the
    server's own default applies (vLLM's: off)."""

    def __init__(self, model: str, base_url: str, api_key: str | None = None, concurrency: int = 8, timeout: float = 120.0) -> None:
        from openai import OpenAI

        self.name, self.model, self.base_url, self.concurrency = f"openai:{model}@{base_url}", model, base_url, concurrency
        self.client = OpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                             timeout=timeout, max_retries=2)
        self.stats = GenerationStats()

    def _one(self, conversation: Conversation, settings: GenerationSettings, seed: int) -> Completion:
        import openai

        try:
            resp = self.client.chat.completions.create(
                model=self.model, messages=conversation, max_tokens=settings.max_new_tokens,
                temperature=settings.temperature if settings.do_sample else 0.0,
                top_p=settings.top_p if settings.do_sample else 1.0, seed=seed,
            )
        except openai.APIConnectionError as exc:
            raise ParleyError(f"cannot reach the OpenAI-compatible server at {self.base_url}: is it running? ({exc})") from exc
        except openai.NotFoundError as exc:
            raise ParleyError(f"server at {self.base_url} has no model {self.model!r}: {exc.message}") from exc
        except openai.APIStatusError as exc:
            raise ParleyError(f"server at {self.base_url} answered HTTP {exc.status_code}: {exc.message}") from exc
        if not resp.choices:
            raise ParleyError(f"server at {self.base_url} returned no choices for model {self.model!r}")
        if resp.usage is not None:
            self.stats.new_tokens += resp.usage.completion_tokens or 0
        return Completion(resp.choices[0].message.content or "")

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int,
                 keys: Sequence[str] | None = None) -> list[Completion]:
        # Session keys are ignored: the server does its own prefix caching (vLLM, SGLang).
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(lambda ic: self._one(ic[1], settings, seed + ic[0]), enumerate(conversations)))
        self.stats.seconds += time.perf_counter() - began
        self.stats.calls += 1
        self.stats.sequences += len(conversations)
        return results
