"""Shared fixtures: a tiny random chat model (seconds to build) saved as a real HF checkpoint."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer Llama with SmolLM2's real tokenizer and chat template, randomly initialised."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from parley.models.loading import smollm2_location

    folder, gguf = smollm2_location()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
                         initializer_range=0.5)  # large init: varied tokens, no near-ties
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-chat-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir):
    from parley.models.backends import HFBackend
    from parley.models.loading import load_causal_lm

    model, tokenizer = load_causal_lm(str(tiny_model_dir))
    return HFBackend(model, tokenizer, name="tiny")


# ---------------------------------------------------------------- mediation (each test module defines ``app``)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def case(client):
    """A case with both parties' seats claimed and their constraints entered."""
    from mediation_helpers import LANDLORD, TENANT, Actors

    actors = Actors(client)
    actors.enter_constraints(Tenant=TENANT, Landlord=LANDLORD)
    return actors


def _database_params():
    from mediation_helpers import database_urls

    return database_urls()


@pytest.fixture(params=_database_params())
def db_url(request, tmp_path):
    """An empty database of each kind: SQLite, and PostgreSQL when PARLEY_TEST_DATABASE_URL is set."""
    from mediation_helpers import fresh_database

    url, cleanup = fresh_database(request.param, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def inbox():
    """A local SMTP server (aiosmtpd) that keeps what it receives."""
    from mediation_helpers import Inbox

    box = Inbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture(scope="session")
def repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]
