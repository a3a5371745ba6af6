"""The task queue: huey with SQLite storage in the home folder, or Redis (`WINNOW_REDIS_URL`)
when workers on several machines share it.

Services register their task functions here with `@task(name)`. Every message goes
through one huey task, `_dispatch`, which looks the function up by name in the worker:
the app can enqueue without importing the task's code (and torch), and jobs depend on no
service.
"""
from __future__ import annotations

from typing import Callable

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper

from core import config

_functions: dict[str, Callable] = {}
_hueys: dict[str, tuple[Huey, TaskWrapper]] = {}


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


def where() -> str:
    """The queue in words: its Redis URL (password hidden) or its SQLite file."""
    url = config.redis_url()
    if url:
        from urllib.parse import urlsplit

        u = urlsplit(url)
        return u._replace(netloc=u.hostname + (f":{u.port}" if u.port else "")).geturl() if u.password else url
    return str(config.home() / "queue.db")


def _instance() -> tuple[Huey, TaskWrapper]:
    url = config.redis_url()
    key = url or str(config.home() / "queue.db")
    if key not in _hueys:
        h = RedisHuey("winnow", url=url, results=False) if url else SqliteHuey("winnow", filename=key, results=False)
        _hueys[key] = (h, h.task(name="dispatch", retries=0)(_dispatch))
    return _hueys[key]


def huey() -> Huey:
    """The huey instance of the configured queue."""
    return _instance()[0]


def enqueue(name: str, *args) -> None:
    """Put a call of task `name` on the queue for a worker."""
    _instance()[1](name, *args)


def pending() -> int:
    """Messages waiting in the queue."""
    return huey().pending_count()
