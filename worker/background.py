"""Calls a leadership term makes on the side (an ACCEPT, a KILL, a delayed wake-up), so
that the loop that started them goes on at once; all of them end with the term."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        # Referenced until done: the event loop keeps only weak references to tasks.
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def tasks(self) -> list[asyncio.Task[Any]]:
        return list(self._tasks)
