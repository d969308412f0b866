"""Offset ranges: how windowed aggregates survive crashes, replays and rebalances exactly (pure).

An event's place in the stream is (partition, offset, index): a record may carry many events
(schemas.records), the index is the event's position in its record (0 for a single-event record).
A rollup row is the aggregate of one key over the events of one *range* of one partition, with
`version` = the offset of the record of the key's last event in it (ReplacingMergeTree keeps the
highest version). Two kinds of range:

- **A batch record is a range of its own** (`range_id = RECORD_RANGES | offset`): all its events are
  read together, so its rows are complete once written, it is acked at once (unless an open range of
  single-event records below holds the ack back) and nothing of it stays in memory.
- **Single-event records** are cut into fixed offset ranges, `range_id = offset // span` (batch
  records inside that span are not part of it). For the open range of each partition the worker keeps
  the aggregates of the events read so far and, after each batch, upserts every key the batch touched
  with the whole range so far.

Why this is exact:
- A record is the unit of reading: a batch always holds whole records (the agent never cuts one),
  and every event of a record is added before the batch's rows are written. So a row of version v
  holds exactly the key's counted events of its range in records at offsets <= v — all of record
  v's, in index order — and two rows of the same version hold the same events. The index orders
  events inside a record but needs no place in the version: versions stay record offsets, so rows
  written before batch records existed compare correctly with new ones (decision 0005 says how to
  upgrade from workers that counted batch records inside offset ranges).
- A single-event range is acked only once it is complete (a record of a later range was read), so
  a committed offset never lies after the first record of an open single-event range; a worker
  starting at a single-event record re-reads its range from the range start (`realign`), a worker
  starting at a batch record starts there (that record is a whole range, and no single-event record
  of its span before it can be unacked). A gap or a re-read goes back to where the open range, or
  the re-read offset's range, starts. So every pass rebuilds a range from its first record.
- Which events count is the same in every pass: an event counts when its id was first stored from
  this very (partition, offset, index); other copies of the id do not (processors.dedup); the
  framing cuts a record's value the same way every time; lateness is measured on the record's
  Kafka timestamp, not on the worker's clock.
So the highest version of a row is always the most complete, and no event is counted twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from processors.windows import Agg, Key

RECORD_RANGES: Final = 1 << 63
"""The `range_id` bit of a batch record's own range (`RECORD_RANGES | offset`): never a span's range id."""


@dataclass(slots=True)
class OpenRange:
    range_id: int
    last_offset: int
    aggs: dict[Key, Agg] = field(default_factory=dict)


@dataclass(slots=True)
class RangeUpdate:
    """What one batch changed: rows to upsert, and up to which offset each partition may be acked."""

    touched: dict[tuple[int, int, Key], tuple[Agg, int]] = field(default_factory=dict)
    """(partition, range_id, key) -> (the key's aggregate over the range up to `version`, version).

    The version is the offset of the record of the key's last event so far: a row of version v
    holds exactly the key's events of the range in records at offsets <= v, whichever worker wrote
    it, so the highest version is always the most complete and never counts an event twice."""
    ack_below: dict[int, int] = field(default_factory=dict)
    """partition -> every record with a smaller offset may be acked (its range is complete)."""
    restarted: set[int] = field(default_factory=set)
    """Partitions read again from an earlier offset (replay after a rebalance): drop their pending acks."""


class RangeBook:
    """The open single-event range and the last record read of every partition this worker reads."""

    def __init__(self, span: int) -> None:
        if span < 1:
            raise ValueError("span must be at least 1")
        self.span = span
        self._open: dict[int, OpenRange] = {}
        self._last: dict[int, int] = {}
        self._sought: set[tuple[int, int]] = set()

    def realign(self, first_offsets: dict[int, int], batched: Collection[int] = ()) -> dict[int, int]:
        """Partitions that must be read again from an earlier offset before this batch counts.

        A range may only be built from its first record. Given each partition's first offset in a
        batch (and the partitions whose first record is a batch record), returns partition -> offset
        to seek to when the batch would:
        - start a single-event range in the middle (a fresh start or a re-read at a mid-range offset):
          to the start of its range (a (re)start at a batch record needs none while no single-event range
          is open: it is a range of its own — seeking is avoided where it can be, see decision 0005);
        - skip records (a gap, e.g. an agent restart): to the open single-event range's start, or to
          the first record not read.
        Each (partition, offset) is sought once: if the log no longer holds it (retention,
        compaction), the range is built from what remains. The state of a realigned partition is dropped.
        """
        seek: dict[int, int] = {}
        for partition, offset in first_offsets.items():
            last = self._last.get(partition)
            if last is not None and offset == last + 1:
                self._sought = {s for s in self._sought if s[0] != partition}  # progress: seeks may repeat
                continue  # contiguous: the common case
            current = self._open.get(partition)
            if last is not None and offset > last + 1:  # a gap
                target = current.range_id * self.span if current is not None else last + 1
            elif partition in batched and (last is None or current is None):
                target = offset  # a batch record is a range of its own, and no single-event range is open below
            else:  # a (re)start: from the start of its range
                target = offset - offset % self.span
            if target != offset and (partition, target) not in self._sought:
                self._sought.add((partition, target))
                self._open.pop(partition, None)
                self._last.pop(partition, None)
                seek[partition] = target
        return seek

    def advance(self, partition: int, offset: int, update: RangeUpdate, batched: bool = False) -> OpenRange:
        """The range of the record at (partition, offset): a batch record's own (`batched`), or the
        partition's open single-event range, opening or restarting it as needed."""
        last = self._last.get(partition)
        current = self._open.get(partition)
        if last is not None and offset <= last:  # read again: start over from here
            update.restarted.add(partition)
            current = None
            self._open.pop(partition, None)
        self._last[partition] = offset
        range_id = offset // self.span
        if current is not None and current.range_id != range_id:  # a record of a later range: complete
            del self._open[partition]
            update.ack_below[partition] = range_id * self.span if not batched else offset + 1
            current = None
        if batched:
            if current is None:  # no open single-event range below: acked once stored
                update.ack_below[partition] = offset + 1
            return OpenRange(RECORD_RANGES | offset, offset)
        if current is None:
            current = self._open[partition] = OpenRange(range_id, offset)
        current.last_offset = offset
        return current

    def add(
        self,
        current: OpenRange,
        partition: int,
        offset: int,
        keys: list[Key],
        row: Mapping[str, Any],
        update: RangeUpdate,
    ) -> None:
        """Count one stored event (`row`, of the record at `offset`, already `advance`d to) under
        `keys` in `current`. A record's events are all added, in index order, before its batch is written."""
        for key in keys:
            agg = current.aggs.get(key)
            if agg is None:
                agg = current.aggs[key] = Agg()
            agg.add_row(row)
            update.touched[(partition, current.range_id, key)] = (agg, offset)

    def add_partials(
        self,
        current: OpenRange,
        partition: int,
        partials: Iterable[tuple[Key, Agg, int, bool]],
        update: RangeUpdate,
    ) -> None:
        """Count a batch's partial aggregates of `current`'s range (already `advance`d to its last record):
        for each key's partial what `add` does for one event. A partial is (key, the key's events of the
        batch as one aggregate, version: the position of its last event, ordered); an `ordered` partial
        replays its float contributions in event order (`processors.columnar_rollups.Ordered`), so it is
        merged even into a new key's empty aggregate; any other becomes a new key's aggregate as it is."""
        aggs, touched, range_id = current.aggs, update.touched, current.range_id
        for key, partial, version, ordered in partials:
            agg = aggs.get(key)
            if agg is None:
                if not ordered:
                    aggs[key] = partial
                    touched[(partition, range_id, key)] = (partial, version)
                    continue
                agg = aggs[key] = Agg(partial.aggregation)
            agg.merge(partial)
            touched[(partition, range_id, key)] = (agg, version)
