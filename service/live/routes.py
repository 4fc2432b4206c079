"""`POST /sandbox/{change}`: change the next occurrence of someone's 1:1 in the live
sandbox's fakes (service.sandbox.changes), as that person would in their calendar.

Mounted only by `oneonone serve --sandbox`, so every other server answers 404;
left out of the OpenAPI document (it is no part of the API). It answers callers
on loopback holding a valid API token only: it rewrites calendars, albeit fake
ones. It never touches the service's database: the fakes notify the webhooks,
and the worker syncs and detects as it would for Google or Outlook."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import Caller
from service.errors import Forbidden, NotFound
from service.sandbox import changes

router = APIRouter(prefix="/sandbox", include_in_schema=False)


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    email: str = Field(min_length=3, max_length=320)
    with_: str | None = Field(None, alias="with", min_length=3, max_length=320)
    minutes: int | None = Field(None, ge=-10_080, le=10_080)


@router.post("/{change}")
async def change_next(change: str, body: ChangeIn, request: Request, _caller: Caller) -> dict[str, Any]:
    if not _loopback(request):
        raise Forbidden("the sandbox takes changes from this machine only")
    sandbox = request.app.state.sandbox
    try:
        planned = changes.plan_next(sandbox, change, body.email, partner=body.with_, minutes=body.minutes)
        # The fakes' stores lock and their notifier delivers on its own thread: off the loop.
        sent = await asyncio.to_thread(changes.apply, sandbox, planned)
    except changes.NoSuchChange as exc:
        raise NotFound(str(exc)) from None
    return planned.as_json() | {"notifications": sent}


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
