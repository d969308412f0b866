"""Which records of a keyed log to apply, and the versions writers give them (pure, clock injected).

Two concerns, one per class:

- `OffsetOrder` (a target's: `Directory`, `RuleBook`): a record older, by offset, than one already
  applied for its key is ignored (a writer applying its own write after its follower saw a newer one).
  Offsets are held only while they can matter: those ahead of the follower's position (writes this
  process applied before its follower fetched them); behind it the follower has applied everything.
  Without a follower (tools, tests) an offset is held per live record and dropped with its deletion.
- `RecordVersions` (a follower's): every signed record carries a version (`LogClock`: the writer's
  time in ns, above any version its process has seen on the topic); a record whose version is not
  above the one held for its key is a replay (an old signed record produced again) and is refused.
  Versions of deleted records are remembered (at most `remember`; the oldest go first and raise a
  floor below which a record of a key not held is refused), so a record deleted by a tombstone cannot
  be brought back either. Records written before versions (version 0) keep log order among
  themselves, and are refused once their key holds a versioned record or was deleted.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

UNVERSIONED = 0
"""The version of a record written before records carried one."""


@runtime_checkable
class FollowsPosition(Protocol):
    def followed(self, offset: int) -> None:
        """The follower consumed every record up to `offset` (applied or refused)."""


class OffsetOrder:
    """Per key, the offset of the record applied, held only while it can order a later apply."""

    def __init__(self) -> None:
        self.position = -1
        """The follower's position: every record up to it was consumed (-1: none, or no follower)."""
        self._following = False
        self._ahead: dict[bytes, int] = {}

    def admits(self, key: bytes, offset: int, deleted: bool) -> bool:
        """Whether to apply the record of `key` at `offset` (a tombstone when `deleted`)."""
        if offset <= self.position:
            return False  # the follower applied it, and what came after it
        if offset < self._ahead.get(key, -1):
            return False  # a newer record of the key was applied
        if deleted and not self._following:
            self._ahead.pop(key, None)
        else:
            self._ahead[key] = offset  # dropped once the follower passes it (`followed`)
        return True

    def followed(self, offset: int) -> None:
        self._following = True
        self.position = max(self.position, offset)
        if self._ahead:
            self._ahead = {k: o for k, o in self._ahead.items() if o > self.position}

    @property
    def held(self) -> int:
        """Offsets held (bounded: writes ahead of the follower, or live records without one)."""
        return len(self._ahead)


class RecordVersions:
    """The version of each live record of a keyed log, and of the last `remember` deleted ones."""

    def __init__(self, remember: int) -> None:
        self.remember = remember
        self.floor = UNVERSIONED
        """The highest version of a deletion forgotten: a record of an unknown key must be above it."""
        self._live: dict[bytes, int] = {}
        self._deleted: OrderedDict[bytes, int] = OrderedDict()

    def admits(self, key: bytes, version: int, deleted: bool) -> bool:
        """Whether the record of `key` with `version` (a tombstone when `deleted`) is newer than what
        is held; if so, it is held."""
        live, gone = self._live.get(key), self._deleted.get(key)
        if version == UNVERSIONED:
            fresh = gone is None and live in (None, UNVERSIONED)  # log order among unversioned records
        elif live is not None or gone is not None:
            fresh = version > (live if live is not None else gone or UNVERSIONED)
        else:
            fresh = version > self.floor
        if not fresh:
            return False
        if deleted:
            self._live.pop(key, None)
            self._deleted[key] = version
            self._deleted.move_to_end(key)
            while len(self._deleted) > self.remember:
                self.floor = max(self.floor, self._deleted.popitem(last=False)[1])
        else:
            self._deleted.pop(key, None)
            self._live[key] = version
        return True

    def held(self) -> tuple[int, int]:
        """(live records, deleted records remembered)."""
        return len(self._live), len(self._deleted)


class LogClock:
    """Versions for one topic's writes in this process: the time in ns, above every version seen."""

    def __init__(self, now_ns: Callable[[], int] = time.time_ns) -> None:
        self._now = now_ns
        self.last = UNVERSIONED

    def observe(self, version: int) -> None:
        self.last = max(self.last, version)

    def tick(self) -> int:
        self.last = max(self._now(), self.last + 1)
        return self.last


_CLOCKS: dict[str, LogClock] = {}


def log_clock(topic: str) -> LogClock:
    """This process's clock of `topic`, shared by its followers (which observe) and writers (which tick)."""
    return _CLOCKS.setdefault(topic, LogClock())
