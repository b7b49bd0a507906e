"""Text generation backends: a local transformers model (batched) or an OpenAI-compatible server."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from parley import ParleyError
from parley.agents.base import GenerationSettings

Conversation = list[dict]


@dataclass
class Completion:
    text: str
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)  # exactly the sampled ids (eos included)


@dataclass
class GenerationStats:
    calls: int = 0
    sequences: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


class Backend(Protocol):
    name: str
    stats: GenerationStats

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int) -> list[Completion]: ...


class HFBackend:
    """Batched generation with left padding and an attention mask, using the model's chat template."""

    def __init__(self, model, tokenizer, name: str) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stop_ids = sorted({i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"))
                                if isinstance(i, int) and i != tokenizer.unk_token_id})
        self.stats = GenerationStats()

    def render(self, conversation: Conversation) -> str:
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int) -> list[Completion]:
        import torch
        from transformers import GenerationConfig

        prompts = [self.render(c) for c in conversations]
        gen_config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample,
            temperature=settings.temperature if settings.do_sample else None,
            top_p=settings.top_p if settings.do_sample else None, top_k=None,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.stop_ids,
        )
        results: list[Completion] = []
        for start in range(0, len(prompts), settings.batch_size):
            chunk = prompts[start:start + settings.batch_size]
            enc = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
            torch.manual_seed(seed + start)
            began = time.perf_counter()
            with torch.inference_mode():
                out = self.model.generate(**enc, generation_config=gen_config)
            self.stats.seconds += time.perf_counter() - began
            self.stats.calls += 1
            width = enc["input_ids"].shape[1]
            for row in range(len(chunk)):
                prompt_ids = enc["input_ids"][row][enc["attention_mask"][row].bool()].tolist()
                ids = out[row, width:].tolist()
                ids = _cut_at_stop(ids, self.stop_ids)
                self.stats.new_tokens += len(ids)
                text_ids = ids[:-1] if ids and ids[-1] in self.stop_ids else ids
                results.append(Completion(self.tokenizer.decode(text_ids, skip_special_tokens=True), prompt_ids, ids))
            self.stats.sequences += len(chunk)
        return results


def _cut_at_stop(ids: list[int], stop_ids: list[int]) -> list[int]:
    for i, tok in enumerate(ids):
        if tok in stop_ids:
            return ids[: i + 1]
    return ids


class OpenAIBackend:
    """Any OpenAI-compatible chat server: vLLM, Ollama, llama.cpp, a hosted API."""

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

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings, seed: int) -> list[Completion]:
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(lambda ic: self._one(ic[1], settings, seed + ic[0]), enumerate(conversations)))
        self.stats.seconds += time.perf_counter() - began
        self.stats.calls += 1
        self.stats.sequences += len(conversations)
        return results
