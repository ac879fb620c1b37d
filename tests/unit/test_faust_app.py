"""LinkageApp: started, it leaves its start-up heap out of the cyclic collector's walks and
makes the collections rarer."""

from __future__ import annotations

import gc

import faust
import pytest

from hub.adapters.faust_app import GC_THRESHOLDS, LinkageApp


async def test_the_start_up_heap_is_frozen_once_the_app_has_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def started(self: faust.App) -> None:  # faust's own start-up: nothing to do here
        return None

    monkeypatch.setattr(faust.App, "on_started", started)
    app = LinkageApp("freeze-test", broker="kafka://127.0.0.1:1", store="memory://")
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        assert gc.get_freeze_count() == 0
        await app.on_started()
        assert gc.get_freeze_count() > 10_000  # everything alive, modules included
        assert gc.get_threshold() == GC_THRESHOLDS != thresholds
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
