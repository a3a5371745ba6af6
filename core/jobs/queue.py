"""The task queue: huey with SQLite storage in the home folder.

Services register their task functions here with `@task(name)`. Every message goes
through one huey task, `_dispatch`, which looks the function up by name in the worker:
the app can enqueue without importing the task's code (and torch), and jobs depend on no
service.
"""
from __future__ import annotations

from typing import Callable

from huey import SqliteHuey
from huey.api import TaskWrapper

from core import config

_functions: dict[str, Callable] = {}
_hueys: dict[str, tuple[SqliteHuey, TaskWrapper]] = {}


def task(name: str) -> Callable[[Callable], Callable]:
    """Register `fn` as the queue task `name` (the function itself is returned unchanged)."""

    def register(fn: Callable) -> Callable:
        _functions[name] = fn
        return fn

    return register


def _dispatch(name: str, *args) -> None:
    if name not in _functions:
        raise RuntimeError(f"task {name!r} is not registered in this worker")
    _functions[name](*args)


def _instance() -> tuple[SqliteHuey, TaskWrapper]:
    path = str(config.home() / "queue.db")
    if path not in _hueys:
        h = SqliteHuey("winnow", filename=path, results=False)
        _hueys[path] = (h, h.task(name="dispatch", retries=0)(_dispatch))
    return _hueys[path]


def huey() -> SqliteHuey:
    """The huey instance of the current home folder."""
    return _instance()[0]


def enqueue(name: str, *args) -> None:
    """Put a call of task `name` on the queue for a worker."""
    _instance()[1](name, *args)


def pending() -> int:
    """Messages waiting in the queue."""
    return huey().pending_count()
