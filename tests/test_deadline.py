"""Query deadlines: one watchdog thread fires them in time order, never for finished queries."""

import threading
import time

from salesgenie.warehouses.base import Deadline


def test_deadlines_fire_in_time_order_and_finished_ones_never_fire() -> None:
    fired: list[str] = []
    all_fired = threading.Event()

    def cancel(name: str) -> None:
        fired.append(name)
        if len(fired) == 2:
            all_fired.set()

    slow = Deadline(0.30, lambda: cancel("slow"))
    finished = Deadline(0.05, lambda: cancel("finished"))
    quick = Deadline(0.10, lambda: cancel("quick"))
    slow.__enter__()
    finished.__enter__()
    quick.__enter__()  # scheduled after `slow` yet due before it: the watchdog wakes early
    finished.__exit__(None, None, None)  # the query ended in time

    assert all_fired.wait(5)
    time.sleep(0.1)
    assert fired == ["quick", "slow"]
    assert quick.expired and slow.expired and not finished.expired
    assert "0.1 s time limit" in str(quick.timeout())


def test_a_deadline_left_before_its_time_is_never_expired() -> None:
    calls: list[int] = []
    with Deadline(0.05, lambda: calls.append(1)) as deadline:
        pass
    time.sleep(0.15)
    assert calls == [] and not deadline.expired
