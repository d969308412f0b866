"""The worker's collector settings (processors.main.tune_collector): start-up objects frozen, young
objects collected every 50,000 allocations instead of mid-batch every 700."""

from __future__ import annotations

import gc

from processors.main import tune_collector


def test_tune_collector_freezes_start_up_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (50_000, 20, 100)
        assert gc.get_freeze_count() > 1000  # everything imported so far is out of the collector's way
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
