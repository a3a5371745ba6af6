"""The one place that opens the store: an SQLAlchemy engine per URL, sessions, folders."""
from __future__ import annotations

import errno
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core import config
from core.store.tables import Base

_engines: dict[str, tuple[Engine, sessionmaker]] = {}
_lock = threading.Lock()


class StoreBusy(OSError):
    """Another process held the store locked for longer than the busy timeout."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the app read while the worker writes. busy_timeout is SQLite's own retry with
    # backoff (it sleeps in growing steps) before a locked store is reported.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(1000 * config.busy_timeout_s())}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def engine() -> Engine:
    """The engine for the configured URL, created (with its tables) on first use."""
    url = config.db_url()
    with _lock:
        if url not in _engines:
            eng = create_engine(url, pool_pre_ping=True)
            if eng.dialect.name == "sqlite":
                event.listen(eng, "connect", _sqlite_pragmas)
            if eng.dialect.name == "postgresql":
                # Workers on several machines may open a new store at once: one creates it.
                with eng.begin() as conn:
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7010)")
                    Base.metadata.create_all(conn)
                    _add_missing_columns(conn)
            else:
                Base.metadata.create_all(eng)
                _add_missing_columns(eng)
            _engines[url] = (eng, sessionmaker(eng, expire_on_commit=False))
        return _engines[url][0]


def _add_missing_columns(eng) -> None:
    """Bring a store made by an older Winnow up to date: add the columns it lacks, with their
    defaults. Columns are only ever added, so this is the whole migration story so far."""
    from contextlib import nullcontext

    from sqlalchemy import inspect, text

    have = inspect(eng)
    with eng.begin() if isinstance(eng, Engine) else nullcontext(eng) as conn:
        for table in Base.metadata.sorted_tables:
            present = {c["name"] for c in have.get_columns(table.name)}
            for col in table.columns:
                if col.name in present:
                    continue
                ddl = f"ALTER TABLE {table.name} ADD COLUMN {col.name} {col.type.compile(conn.dialect)}"
                default = getattr(col.default, "arg", None)
                if default is not None and not callable(default):
                    ddl += f" DEFAULT {text(':v').bindparams(v=default).compile(dialect=conn.dialect, compile_kwargs={'literal_binds': True})}"
                conn.execute(text(ddl))


@contextmanager
def session() -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    engine()
    factory = _engines[config.db_url()][1]
    with factory() as s:
        try:
            yield s
            s.commit()
        except OperationalError as e:
            s.rollback()
            if "locked" in str(e) or "busy" in str(e):
                raise StoreBusy(
                    errno.EBUSY,
                    f"the store {config.db_url()} stayed locked by another process for {config.busy_timeout_s():g} s "
                    "(retried meanwhile); nothing was changed — try again, and if it persists look for a stuck process",
                ) from e
            raise
        except BaseException:
            s.rollback()
            raise


def _folder_path(kind: str, ident: int) -> Path:
    return config.home() / kind / str(ident)


def folder(kind: str, ident: int) -> Path:
    """The folder of arrays for one dataset, experiment, round or run (made if missing)."""
    path = _folder_path(kind, ident)
    path.mkdir(parents=True, exist_ok=True)
    return path


def resume_path(run_id: int) -> Path:
    """Where a run's training state is checkpointed after every epoch (gone once the run ends well)."""
    return _folder_path("runs", run_id) / "resume.pt"


def reset_engines() -> None:
    """Forget cached engines (tests switch WINNOW_HOME between cases)."""
    with _lock:
        for eng, _ in _engines.values():
            eng.dispose()
        _engines.clear()


def fetch(table, ref: int | str, what: str):
    """One row of `table` by id (int) or by its unique name (str); ValueError naming `what` otherwise."""
    from sqlalchemy import select

    with session() as s:
        row = s.get(table, ref) if isinstance(ref, int) else s.scalar(select(table).where(table.name == ref))
        if row is None:
            raise ValueError(f"no {what} {ref!r}")
        return row
