"""`linkage-hub up` stops after repeated worker exits only when they come in quick succession."""

from __future__ import annotations

from hub.commands.up import RestartWindow


def test_exits_spread_over_time_never_stop_the_hub() -> None:
    window = RestartWindow(limit=5, window=60.0)
    assert not any(window.exited(hour * 3600.0) for hour in range(100))


def test_more_than_the_limit_within_the_window_stops_the_hub() -> None:
    window = RestartWindow(limit=5, window=60.0)
    assert [window.exited(t) for t in (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)] == [False] * 5 + [True]


def test_old_exits_leave_the_window_and_the_backoff_shrinks_with_them() -> None:
    window = RestartWindow(limit=2, window=10.0)
    assert not window.exited(0.0) and not window.exited(1.0)
    assert window.backoff == 4.0
    assert not window.exited(20.0)  # the two early exits are out of the window
    assert window.backoff == 2.0
