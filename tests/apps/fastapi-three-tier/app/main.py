"""The API: calls are stored in Postgres and transcribed by the Celery worker."""

import os

import redis
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from app.db import connect
from app.metrics import PrometheusMiddleware, metrics_endpoint
from app.worker import transcribe

app = FastAPI()
# Wired as app/metrics.py's docstring says.
app.add_middleware(PrometheusMiddleware)
app.add_route("/metrics", metrics_endpoint)


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/health/ready")
def ready() -> dict:
    with connect() as conn:
        conn.execute("SELECT 1 FROM calls LIMIT 1")
    redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
    return {"status": "ready"}


class NewCall(BaseModel):
    caller: str


@app.post("/api/calls", status_code=201)
def create_call(body: NewCall) -> dict:
    with connect() as conn:
        (call_id,) = conn.execute(
            "INSERT INTO calls (caller) VALUES (%s) RETURNING id", (body.caller,)
        ).fetchone()
    transcribe.delay(call_id)
    return {"id": call_id, "status": "queued"}


@app.get("/api/calls/{call_id}")
def get_call(call_id: int) -> dict:
    with connect() as conn:
        row = conn.execute(
            "SELECT status, transcript FROM calls WHERE id = %s", (call_id,)
        ).fetchone()
    if row is None:
        raise HTTPException(status_code=404)
    return {"id": call_id, "status": row[0], "transcript": row[1]}
