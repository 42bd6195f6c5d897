"""Celery worker: Redis (REDIS_URL, the `worker` ACL user) is the broker;
results go to Postgres, not to a result backend."""

import os

from celery import Celery

from app.db import connect

celery = Celery("voice-api", broker=os.environ["REDIS_URL"])
celery.conf.update(task_default_queue="celery", broker_connection_retry_on_startup=True)
# `celery -A app.worker` finds the app under this name.
app = celery


@celery.task(name="calls.transcribe")
def transcribe(call_id: int) -> None:
    with connect() as conn:
        row = conn.execute("SELECT caller FROM calls WHERE id = %s", (call_id,)).fetchone()
        conn.execute(
            "UPDATE calls SET status = 'done', transcript = %s WHERE id = %s",
            (f"hello from {row[0]}", call_id),
        )
