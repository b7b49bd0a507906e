"""A local server that speaks the OpenAI chat-completions protocol, for testing `openai:` agents."""

from __future__ import annotations

import json
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


def make_app(model: str, reply: str, requests: list) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "test"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        requests.append(body)
        if body.get("model") != model:
            return JSONResponse(status_code=404, content={"error": {
                "message": f"The model `{body.get('model')}` does not exist.", "type": "NotFoundError",
                "param": None, "code": 404}})
        text = reply(body) if callable(reply) else reply
        usage = {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}
        if body.get("stream"):  # server-sent events, as clients that stream (verifiers' chat agent) expect
            return StreamingResponse(_events(f"chatcmpl-{len(requests)}", model, text, usage, body),
                                     media_type="text/event-stream")
        return {
            "id": f"chatcmpl-{len(requests)}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        }

    return app


def _events(cid: str, model: str, text: str, usage: dict, body: dict):
    def chunk(delta: dict, finish=None, **extra) -> str:
        payload = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    yield chunk({"content": text})
    yield chunk({}, "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield f"data: {json.dumps({'id': cid, 'object': 'chat.completion.chunk', 'created': int(time.time()), 'model': model, 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


class FakeOpenAIServer:
    def __init__(self, model: str = "fake-model", reply="I can pay $12.00. OFFER: $12.00") -> None:
        """``reply``: the assistant's text, or a function of the request body that returns it."""
        self.requests: list = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(make_app(model, reply, self.requests), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=5)
