"""An agent resends a task's update in flight a retry after it sent it, the retry doubling
each time, until it is acknowledged; the next update is then sent, and resent a retry
after that. The resend timer of an acknowledged update is not cancelled but waits on
for the next one. A fake clock and loop: no sleeps, no timing."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from hippo.devmaster import status_updates
from hippo.devmaster.calls import handle_call
from hippo.devmaster.model import Framework, Task


class _Timer:
    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._when, self.callback, self.args, self.dropped = when, callback, args, False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.dropped = True


class _Loop:
    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[_Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> _Timer:
        timer = _Timer(when, callback, args)
        self.timers.append(timer)
        return timer

    def advance(self, to: float) -> None:
        """Fire, in time order, every live timer due by `to`."""
        while due := sorted(
            (t for t in self.timers if not t.dropped and t.when() <= to),
            key=_Timer.when,
        ):
            timer = due[0]
            self.timers.remove(timer)
            self.now = timer.when()
            timer.callback(*timer.args)
        self.now = to


class _Stream:
    id = "s"
    closed = False

    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []
        self.loop: _Loop | None = None

    def send(self, event: dict[str, Any]) -> None:
        assert self.loop is not None
        self.sent.append((self.loop.now, event["update"]["status"]["state"]))


def _master() -> tuple[Any, _Loop, _Stream, Task]:
    loop, stream = _Loop(), _Stream()
    stream.loop = loop
    framework = Framework("f", {})
    framework.stream = stream  # type: ignore[assignment]
    task = Task("t", "f", "a", "t", {}, {})
    framework.tasks["t"] = task
    config = SimpleNamespace(update_retry_s=1.0, update_retry_max_s=60.0)
    master = SimpleNamespace(
        frameworks={"f": framework},
        agents={},
        loop=loop,
        config=config,
        update_delay_s=0.0,
        offers=SimpleNamespace(recovered=lambda: None),
    )
    return master, loop, stream, task


def _acknowledge(master: Any, task: Task) -> None:
    uuid = task.pending[0]["uuid"]
    ack = {"task_id": {"value": "t"}, "agent_id": {"value": "a"}, "uuid": uuid}
    call = {"type": "ACKNOWLEDGE", "framework_id": {"value": "f"}, "acknowledge": ack}
    handle_call(master, call, "s")


def test_an_update_is_resent_a_retry_after_it_was_sent_with_doubling_retries() -> None:
    master, loop, stream, task = _master()
    status_updates.report(master, task, "TASK_STARTING", None, None)
    status_updates.report(master, task, "TASK_RUNNING", None, None)
    loop.advance(3.5)
    assert stream.sent == [(0.0, "TASK_STARTING"), (1.0, "TASK_STARTING"), (3.0, "TASK_STARTING")]


def test_the_next_update_is_resent_a_retry_after_it_was_sent_not_at_the_old_timer() -> None:
    master, loop, stream, task = _master()
    status_updates.report(master, task, "TASK_STARTING", None, None)
    status_updates.report(master, task, "TASK_RUNNING", None, None)
    loop.advance(0.5)
    _acknowledge(master, task)  # RUNNING goes out at 0.5: its resend is due at 1.5
    loop.advance(1.4)
    assert stream.sent == [(0.0, "TASK_STARTING"), (0.5, "TASK_RUNNING")]
    loop.advance(1.5)
    assert stream.sent[-1] == (1.5, "TASK_RUNNING")
    _acknowledge(master, task)
    loop.advance(100.0)
    assert len(stream.sent) == 3 and not [t for t in loop.timers if not t.dropped]


def test_an_acknowledged_terminal_task_is_forgotten_with_its_timer() -> None:
    master, loop, stream, task = _master()
    status_updates.report(master, task, "TASK_FINISHED", None, None)
    _acknowledge(master, task)
    assert master.frameworks["f"].tasks == {}
    assert task.retry_handle is None and all(t.dropped for t in loop.timers)
