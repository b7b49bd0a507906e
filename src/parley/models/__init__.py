"""The ground floor: loading models (the embedded SmolLM2, any HF checkpoint), generation backends (HF with
its K/V cache, OpenAI-compatible servers), generation settings and the versioned prompts. Environments
and agents both sit on it; it imports nothing from them."""
