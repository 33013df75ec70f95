"""Shared fixtures: databases (SQLite always, PostgreSQL when a server answers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import IO

import pytest

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3
        ):
            return None
    except Exception as exc:  # any failure means: no usable server
        return f"PostgreSQL at 127.0.0.1:5432 did not answer ({type(exc).__name__}: {exc})"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    reason = _pg_available()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    import psycopg

    name = f"ostium_test_{uuid.uuid4().hex[:10]}"
    conninfo = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_E2E_LOCK: list[IO[str]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs that include tests/e2e take a machine-wide lock first: those tests create
    namespaces, bridges and veths with fixed names, so two such runs at once (two
    developers' sessions on one machine) would tear down each other's fabric."""
    if _E2E_LOCK or not any("tests/e2e/" in item.nodeid for item in items):
        return
    import fcntl

    handle = open("/tmp/ostium-e2e-tests.lock", "w")  # noqa: SIM115 - held until exit
    fcntl.flock(handle, fcntl.LOCK_EX)
    _E2E_LOCK.append(handle)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _E2E_LOCK:
        handle = _E2E_LOCK.pop()
        handle.close()
