"""Which offsets of the alert-state topic may be committed (pure): up to the lowest record not
finished, per partition, while later records of other tenants finish out of order."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)


class OffsetTracker(Generic[P]):
    def __init__(self) -> None:
        self._pending: dict[P, set[int]] = {}
        self._next: dict[P, int] = {}
        self._committed: dict[P, int] = {}

    def add(self, partition: P, offset: int) -> None:
        """A record was fetched and handed to a lane."""
        self._pending.setdefault(partition, set()).add(offset)
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def done(self, partition: P, offset: int) -> None:
        """A record is finished (stored, every notification delivered or recorded as failed)."""
        if partition in self._pending:
            self._pending[partition].discard(offset)

    @property
    def pending(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def committable(self) -> dict[P, int]:
        """Per partition, the offset to commit (the lowest unfinished one, or past the last fetched) when
        it moved since the last commit."""
        out = {}
        for partition, pending in self._pending.items():
            position = min(pending) if pending else self._next[partition]
            if position > self._committed.get(partition, -1):
                out[partition] = position
        return out

    def committed(self, offsets: dict[P, int]) -> None:
        for partition, position in offsets.items():
            self._committed[partition] = max(self._committed.get(partition, -1), position)

    def forget(self, partition: P) -> None:
        """The partition went to another consumer: what is still running here is not committed by us."""
        for table in (self._pending, self._next, self._committed):
            table.pop(partition, None)
