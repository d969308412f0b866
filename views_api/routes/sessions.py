"""Session drill-downs (raw events): the recent sessions list and one session's messages and calls."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tenancy.http import AuthError
from views_api import queries
from views_api.context import TenantCtx
from views_api.deps import DatabaseDep, NowDep, WarehouseDep
from views_api.models import EventOut, RecentSessions, SessionDetail, SessionSummary

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["sessions"])

MAX_SESSION_EVENTS = 2000


def summary(row: dict[str, Any]) -> SessionSummary:
    """A session row of `queries.session_list`; the duration is the client's own when it sent one."""
    reported = row.pop("reported_duration_ms")
    measured = (row["last_event_at"] - row["started_at"]).total_seconds()
    return SessionSummary(duration_seconds=reported / 1000 if reported else measured, **row)


@router.get("/sessions/recent", response_model=RecentSessions)
async def recent_sessions(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=200, description="How many sessions.")] = 20,
    days: Annotated[int, Query(ge=1, le=90, description="Look back this many days.")] = 7,
    q: Annotated[str | None, Query(max_length=200, description="Session or end-user id contains this.")] = None,
) -> RecentSessions:
    """The most recently active sessions with their duration, message count and cost."""
    since = now - timedelta(days=days)
    query = queries.session_list(database, tenant.tenant_id, since, now + timedelta(seconds=1), limit, q)
    rows = await warehouse.query(query.sql, query.params)
    return RecentSessions(tenant_id=tenant.tenant_id, since=since, sessions=[summary(r) for r in rows])


@router.get("/sessions/{session_id}", response_model=SessionDetail)
async def session_detail(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    session_id: Annotated[str, Path(min_length=1, max_length=256, description="The session's id.")],
) -> SessionDetail:
    """One session: its summary, messages, LLM calls and every event in time order."""
    q = queries.session_events(database, tenant.tenant_id, session_id, MAX_SESSION_EVENTS + 1)
    rows = await warehouse.query(q.sql, q.params)
    if not rows:
        raise AuthError(404, f"no session {session_id!r} for tenant {tenant.tenant_id!r}")
    events = [EventOut(**r) for r in rows[:MAX_SESSION_EVENTS]]
    llm = [e for e in events if e.type == "llm_call"]
    ended = [e for e in events if e.type == "session_ended"]
    started = [e for e in events if e.type == "session_started"]
    messages = [e for e in events if e.type == "message"]
    row = {
        "session_id": session_id,
        "started_at": events[0].ts,
        "last_event_at": events[-1].ts,
        "messages": len(messages),
        "user_messages": sum(e.role == "user" for e in messages),
        "llm_calls": len(llm),
        "tokens": sum(e.input_tokens + e.output_tokens for e in llm),
        "cost_usd": sum((e.cost_usd for e in llm), Decimal(0)),
        "channel": started[0].channel if started else "",
        "end_user_id": next((e.end_user_id for e in events if e.end_user_id), ""),
        "end_reason": ended[-1].end_reason if ended else "",
        "reported_duration_ms": ended[-1].latency_ms if ended else 0,
    }
    return SessionDetail(
        tenant_id=tenant.tenant_id,
        session=summary(row),
        messages=messages,
        llm_calls=llm,
        events=events,
        truncated=len(rows) > MAX_SESSION_EVENTS,
    )
