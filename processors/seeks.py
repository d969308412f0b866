"""Records already queued when the agent seeks a partition back must not count (pure).

When `RangeBook.realign` asks for a partition to be read again from an earlier offset, the agent drops
that partition's events of the batch and seeks the consumer. The consumer's own fetch buffer is
discarded by the seek, but records it had already handed to Faust — queued in the agent's stream and in
its take buffer — still arrive, *before* the sought ones. They continue the dropped batch (their offsets
keep rising past the highest offset delivered so far) while the sought records start again at or below
it. Counting a queued record would start a range in the middle, and acking it would let the consumer
commit past records that were never counted (Faust commits the first run of acked offsets, gaps or not).

So after a seek, a partition's records are dropped while their offsets keep rising past the highest one
delivered; the first one at or below it is where the sought records begin. Two bounds keep this live:
no more than `limit` records in a row are dropped (nothing more can have been queued: the stream buffer
plus the take buffer), and a new consumer generation (a rebalance: Faust seeks every partition to its
committed offset itself, and the agent drops the old generation's records) forgets every seek.
"""

from __future__ import annotations


class SoughtPartitions:
    """Partitions sought back whose queued records are still arriving."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._highest: dict[int, int] = {}
        self._dropped: dict[int, int] = {}
        self._generation: int | None = None

    def sought(self, partition: int, highest: int, generation: int) -> None:
        """`partition` was sought back in consumer `generation`; `highest` is its highest offset delivered so far."""
        self._in(generation)
        self._highest[partition] = max(highest, self._highest.get(partition, highest))
        self._dropped[partition] = 0

    def keep(self, partition: int, offset: int, generation: int) -> bool:
        """Whether the record at (partition, offset) of consumer `generation` is read (in delivery order)."""
        self._in(generation)
        highest = self._highest.get(partition)
        if highest is None:
            return True
        if offset > highest and self._dropped[partition] < self.limit:  # queued before the seek
            self._highest[partition] = offset
            self._dropped[partition] += 1
            return False
        del self._highest[partition], self._dropped[partition]  # the sought records begin
        return True

    def _in(self, generation: int) -> None:
        if generation != self._generation:
            self._generation = generation
            self._highest.clear()
            self._dropped.clear()

    def __contains__(self, partition: object) -> bool:
        return partition in self._highest
