"""A small component server, instrumented the way the platform's services are.

    uvicorn demo.app:app --port 8000            # then: python -m demo.traffic --url ...

Endpoints: a JSON flow run (sometimes slow, sometimes failing), a batch embedding
endpoint, an SSE chat stream of tokens (sse-starlette), `/healthz` and `/metrics`.
Environment: COMPONENT_CLASS (default cpu), DEMO_TRACING (default 1: OpenTelemetry
tracing, trace ids as exemplars on the latency histogram).
"""

from __future__ import annotations

import asyncio
import os
import random

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from exporter.instrument import instrument, observe_batch

COMPONENT_CLASS = os.environ.get("COMPONENT_CLASS", "cpu")
TRACING = os.environ.get("DEMO_TRACING", "1").lower() not in ("0", "false", "no", "")

app = FastAPI(title=f"demo component ({COMPONENT_CLASS})")
instrument(app, COMPONENT_CLASS, tracing=TRACING)


class FlowFailed(RuntimeError):
    """A flow step failed: unhandled, so it shows in http_request_exceptions_total."""


class RunRequest(BaseModel):
    input: str = ""
    fail: bool = False  # force the failure path


class EmbedRequest(BaseModel):
    items: list[str] = Field(min_length=1, max_length=4096)


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}


@app.post("/v1/flows/{flow_id}/run")
async def run_flow(flow_id: str, body: RunRequest) -> dict:
    # Most runs are quick, a few are slow: the latency histogram gets a tail.
    await asyncio.sleep(random.choice((0.005, 0.01, 0.02, 0.05, 0.2)) * random.random())
    if body.fail or random.random() < 0.03:
        raise FlowFailed(f"flow {flow_id} failed")
    return {"flow_id": flow_id, "status": "done", "output": body.input[::-1]}


@app.get("/v1/flows/{flow_id}")
async def get_flow(flow_id: str) -> dict:
    if not flow_id.isalnum():
        raise HTTPException(404, "no such flow")
    return {"flow_id": flow_id, "status": "done"}


@app.post("/v1/embed")
async def embed(request: Request, body: EmbedRequest) -> dict:
    observe_batch(request, len(body.items))
    await asyncio.sleep(0.0005 * len(body.items))  # cost grows with the batch
    return {"vectors": [[float(len(item)), 1.0] for item in body.items]}


@app.get("/v1/chat/stream")
async def chat_stream(prompt: str = "hello", tokens: int = 30) -> EventSourceResponse:
    tokens = max(1, min(tokens, 500))

    async def generate():
        await asyncio.sleep(random.uniform(0.05, 0.4))  # time to first token
        words = (prompt.split() or ["hello"]) * (tokens // max(1, len(prompt.split())) + 1)
        for i in range(tokens):
            yield {"event": "token", "data": words[i]}
            await asyncio.sleep(random.uniform(0.005, 0.03))
        yield {"event": "done", "data": "[DONE]"}

    return EventSourceResponse(generate(), ping=5)
