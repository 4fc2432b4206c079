"""The floor for bench/api.py: a bare FastAPI + asyncpg endpoint returning the same
meeting document (meeting, agenda, open action items, notes) with hand-written SQL,
no auth, no ORM. Started by bench/api.py as `uvicorn bench.bare_app:app`."""

from __future__ import annotations

import os

import asyncpg
from fastapi import FastAPI, HTTPException

DSN = os.environ["BENCH_PG_DSN"]
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "10"))  # bench/api.py gives the service's
app = FastAPI()


@app.on_event("startup")
async def _startup() -> None:
    app.state.pool = await asyncpg.create_pool(DSN, min_size=min(5, POOL_SIZE), max_size=POOL_SIZE)


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@app.get("/bare/meetings/{meeting_id}")
async def meeting(meeting_id: int, person_id: int = 0):
    async with app.state.pool.acquire() as conn:
        m = await conn.fetchrow("SELECT * FROM meetings WHERE id = $1", meeting_id)
        if m is None:
            raise HTTPException(404)
        agenda = await conn.fetch(
            "SELECT * FROM agenda_items WHERE meeting_id = $1 AND (private = false OR author_id = $2) "
            "ORDER BY position, id",
            meeting_id,
            person_id,
        )
        actions = await conn.fetch(
            "SELECT * FROM action_items WHERE pair_id = $1 AND done_at IS NULL ORDER BY due_date NULLS LAST, id",
            m["pair_id"],
        )
        shared = await conn.fetchrow("SELECT * FROM shared_notes WHERE meeting_id = $1", meeting_id)
        private = await conn.fetchrow(
            "SELECT * FROM private_notes WHERE meeting_id = $1 AND author_id = $2", meeting_id, person_id
        )
    return {
        "id": m["id"],
        "pair_id": m["pair_id"],
        "title": m["title"],
        "original_start": _iso(m["original_start"]),
        "start": _iso(m["start"]),
        "end": _iso(m["end"]),
        "status": m["status"],
        "cancelled_at": _iso(m["cancelled_at"]),
        "source_uid": m["source_uid"],
        "template_id": m["template_id"],
        "updated_at": _iso(m["updated_at"]),
        "agenda": [
            {
                "id": a["id"],
                "meeting_id": a["meeting_id"],
                "author_id": a["author_id"],
                "body": a["body"],
                "private": a["private"],
                "position": a["position"],
                "done": a["done"],
                "minutes": a["minutes"],
                "carried_from_id": a["carried_from_id"],
                "updated_at": _iso(a["updated_at"]),
            }
            for a in agenda
        ],
        "open_action_items": [
            {
                "id": a["id"],
                "pair_id": a["pair_id"],
                "meeting_id": a["meeting_id"],
                "owner_id": a["owner_id"],
                "body": a["body"],
                "due_date": a["due_date"].isoformat() if a["due_date"] else None,
                "done_at": _iso(a["done_at"]),
                "created_at": _iso(a["created_at"]),
                "updated_at": _iso(a["updated_at"]),
            }
            for a in actions
        ],
        "shared_note": None
        if shared is None
        else {
            "meeting_id": shared["meeting_id"],
            "body": shared["body"],
            "version": shared["version"],
            "updated_by": shared["updated_by"],
            "updated_at": _iso(shared["updated_at"]),
        },
        "private_note": None
        if private is None
        else {
            "meeting_id": private["meeting_id"],
            "author_id": private["author_id"],
            "body": private["body"],
            "updated_at": _iso(private["updated_at"]),
        },
    }
