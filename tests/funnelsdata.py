"""Site-builder journeys and a few e-commerce sessions, and what a funnel must answer over them.

`builder_events()` adds to the views' known set (`tests.viewsdata`) custom events of end users reaching
different depths of Visitors -> Requests -> Emails -> Verified -> Builds -> Deployed, one whose next step
comes after the window, one out of order, one visiting twice, one whose visit is before the period, none
without an end user counted, and another tenant sending the same names; plus a session whose conversion
comes with only `attributed_session_id`. `expected(...)` computes a funnel's answer from the events alone:
each actor's deepest chain of steps in order (one event per step, each within the window of the first),
entering with a first step in the period, counted by the UTC day of that first step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Event = dict[str, Any]
DAY = timedelta(days=1)
TODAY = datetime(2026, 3, 18, tzinfo=UTC)
WEEK_START = TODAY - 6 * DAY
"""The default period (7d) at NOW: 2026-03-12 .. 2026-03-18, acme's zone is UTC."""
NAMES = ["visit", "request", "email.submitted", "email.verified", "build.finished", "site.deployed"]
BUILDER = {
    "name": "Site builder",
    "by": "end_user",
    "window": "2d",
    "steps": [
        {"event": "custom", "name": "visit", "label": "Visitors"},
        {"event": "custom", "name": "request", "label": "Requests"},
        {"event": "custom", "name": "email.submitted", "label": "Emails"},
        {"event": "custom", "name": "email.verified", "label": "Verified"},
        {
            "event": "custom",
            "name": "build.finished",
            "where": [{"field": "status", "values": ["ok"]}],
            "label": "Builds",
        },
        {"event": "custom", "name": "site.deployed", "label": "Deployed"},
    ],
}
_n = iter(range(10**6))


def _ev(kind: str, ts: datetime, tenant: str = "acme", **fields: Any) -> Event:
    eid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"funnels-{next(_n)}"))
    return {"event_id": eid, "type": kind, "tenant_id": tenant, "timestamp": ts.isoformat(), **fields}


def journey(user: str, start: datetime, steps: list[tuple[str, int]], tenant: str = "acme", **dims: str) -> list[Event]:
    """Custom events `name` at `start` + minutes; build.finished carries `status` (ok unless `dims` says)."""
    out = []
    for name, minutes in steps:
        extra = {"dimensions": {"status": dims.get("status", "ok")}} if name == "build.finished" else {}
        who = {"end_user_id": user} if user else {}
        out.append(_ev("custom", start + timedelta(minutes=minutes), tenant, name=name, **who, **extra))
    return out


def full(*minutes: int) -> list[tuple[str, int]]:
    return list(zip(NAMES, minutes, strict=False))


def builder_events() -> list[Event]:
    at = lambda day, hour, minute=0: TODAY + day * DAY + timedelta(hours=hour, minutes=minute)  # noqa: E731
    events = [
        *journey("u-full", at(-1, 10), full(0, 5, 10, 20, 30, 40)),  # all six steps
        *journey("u-three", at(-1, 11), full(0, 5, 10)),  # up to the email
        *journey("u-failed", at(-2, 9), full(0, 5, 10, 20)),  # verified; its build failed
        *journey("u-failed", at(-2, 9), [("build.finished", 30)], status="failed"),
        *journey("u-failed", at(-2, 9), [("site.deployed", 45)]),
        *journey("u-late", at(-3, 8), [("visit", 0), ("request", 3 * 24 * 60), ("email.submitted", 3 * 24 * 60 + 10)]),
        *journey("u-visit", at(-3, 12), [("visit", 0)]),
        *journey("u-order", at(-4, 10), [("request", 0), ("visit", 10), ("email.submitted", 20)]),
        *journey("u-twice", at(-5, 9), [("visit", 0)]),  # its first visit; the chain starts with the second
        *journey("u-twice", at(-2, 14), full(0, 5, 10, 20, 30)),
        *journey("u-before", at(-8, 10), [("visit", 0)]),  # before the period: never enters it
        *journey("u-before", at(-6, 9), [("request", 0), ("email.submitted", 5)]),
        *journey("u-edge", at(-4, 23, 30), [("visit", 0), ("request", 60)]),  # its request the next day
        *journey("u-today", at(0, 9), [("visit", 0), ("request", 5)]),
        *journey("", at(-1, 12), full(0, 5, 10)),  # no end user: nobody to count
        # another tenant, the same names and the same user ids
        *journey("u-full", at(-1, 10), full(0, 5, 10, 20, 30, 40), tenant="globex"),
        *journey("g-only", at(-1, 10), full(0, 5, 10, 20, 30, 40), tenant="globex"),
    ]
    # a session whose conversion comes two hours later with only `attributed_session_id`
    start, common = at(-1, 13), {"session_id": "fx-1", "end_user_id": "fx-user"}
    events.append(_ev("session_started", start, channel="web", **common))
    for seconds, action in ((40, "recommended"), (50, "clicked"), (55, "added_to_cart")):
        events.append(
            _ev("product_event", start + timedelta(seconds=seconds), action=action, product_id="P9", **common)
        )
    events.append(
        _ev("conversion", start + timedelta(hours=2), order_id="o-fx", revenue="10.00", attributed_session_id="fx-1")
    )
    return events


# -- the reference: what a funnel must answer, from the events ----------------------------------------------


@dataclass(frozen=True)
class Step:
    kind: str
    name: str | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()


BUILDER_STEPS = [Step("custom", n, (("status", ("ok",)),) if n == "build.finished" else ()) for n in NAMES]
ECOMMERCE_STEPS = [
    Step("session_started"),
    Step("product_event", None, (("action", ("recommended", "inquired")),)),
    Step("product_event", None, (("action", ("clicked",)),)),
    Step("product_event", None, (("action", ("added_to_cart",)),)),
    Step("conversion"),
]


def ts(e: Event) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


def matches(e: Event, step: Step) -> bool:
    if e["type"] != step.kind or (step.name is not None and e.get("name") != step.name):
        return False
    return all((e.get("dimensions") or {}).get(f, e.get(f)) in values for f, values in step.where)


def actor(e: Event, by: str) -> str:
    if by == "end_user":
        return str(e.get("end_user_id") or "")
    return str(e.get("session_id") or e.get("attributed_session_id") or "")


def expected(
    events: list[Event], steps: list[Step], by: str, window: timedelta, since: datetime, until: datetime
) -> tuple[list[int], dict[datetime, list[int]]]:
    """Actors reaching each step (in order, each step within `window` of the first, one event per step),
    entering with a first step in [since, until); and the same by UTC day of that first step."""
    mine: dict[str, list[Event]] = {}
    for e in events:
        if e["tenant_id"] == "acme" and since <= ts(e) < until + window and actor(e, by):
            mine.setdefault(actor(e, by), []).append(e)
    totals, daily = [0] * len(steps), {since + i * DAY: [0] * len(steps) for i in range((until - since) // DAY)}
    for evs in mine.values():
        evs.sort(key=ts)
        starts = [i for i, e in enumerate(evs) if matches(e, steps[0]) and ts(e) < until]
        if not starts:
            continue
        best = 0
        for i in starts:
            level, at = 1, i
            for step in steps[1:]:
                nxt = next((j for j in range(at + 1, len(evs)) if matches(evs[j], step)), None)
                if nxt is None or ts(evs[nxt]) - ts(evs[i]) > window:
                    break
                level, at = level + 1, nxt
            best = max(best, level)
        day = ts(evs[starts[0]]).replace(hour=0, minute=0, second=0, microsecond=0)
        for k in range(best):
            totals[k] += 1
            daily[day][k] += 1
    return totals, daily


def pct(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def figures(counts: list[int]) -> list[dict[str, Any]]:
    out = []
    for i, n in enumerate(counts):
        prev = counts[i - 1] if i else None
        drop = prev - n if prev is not None else None
        out.append({
            "actors": n,
            "from_first_pct": pct(n, counts[0]),
            "from_previous_pct": pct(n, prev) if prev is not None else None,
            "drop_off": drop,
            "drop_off_pct": pct(drop, prev) if prev is not None and drop is not None else None,
        })  # fmt: skip
    return out


def iso(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")


def independent(events: list[Event], since: datetime, until: datetime) -> list[int]:
    """What `GET .../funnel` counted before: sessions with each stage's event in [since, until)."""
    return [
        len({actor(e, "session") for e in events if e["tenant_id"] == "acme" and since <= ts(e) < until
             and matches(e, step) and actor(e, "session")})
        for step in ECOMMERCE_STEPS
    ]  # fmt: skip
