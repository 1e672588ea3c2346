"""The app the multiprocess test runs under `uvicorn --workers 2` (imported per worker)."""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI
from sse_starlette.sse import EventSourceResponse

from exporter.instrument import instrument

app = FastAPI()
instrument(app, "gpu")


@app.get("/pid")
async def pid() -> dict:
    return {"pid": os.getpid()}


@app.get("/stream")
async def stream() -> EventSourceResponse:
    async def events():
        while True:
            yield {"data": "tick"}
            await asyncio.sleep(0.1)

    return EventSourceResponse(events(), headers={"x-worker-pid": str(os.getpid())})
