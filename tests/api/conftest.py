"""API test harness: the real ASGI app on a real database, with the worker driven
explicitly (`api.settle()` runs the reconcile loop until no work is left)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from ostium.control.api.app import create_app
from ostium.control.db.engine import Database, open_database
from ostium.control.db.migrate import upgrade
from ostium.control.db.models import Base
from ostium.control.services.context import ServiceContext
from ostium.control.settings import Settings, load_settings
from ostium.control.worker.loop import WorkerLoop
from ostium.drivers.compute.noop import NoopDriver

SUBNET = "vip-subnet"


class Api:
    """A TestClient plus helpers that speak in user terms."""

    def __init__(
        self, client: TestClient, worker: WorkerLoop, db: Database, settings: Settings
    ) -> None:
        self.client = client
        self.worker = worker
        self.db = db
        self.settings = settings
        self.subnet_id = settings.networks[0].subnet_id
        self.network_id = settings.networks[0].network_id
        self.headers: dict[str, str] = {}

    def req(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        if body is not None and not isinstance(body, (bytes, str)):
            kw["json"] = body
        elif body is not None:
            kw["content"] = body
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.req("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.req("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.req("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.req("DELETE", path, **kw)

    def settle(self) -> None:
        self.worker.drain()

    # ---- builders ----------------------------------------------------------------

    def lb(self, **fields: Any) -> dict[str, Any]:
        body = {"vip_subnet_id": self.subnet_id, **fields}
        r = self.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})
        assert r.status_code == 201, r.text
        self.settle()
        return dict(r.json()["loadbalancer"])

    def child(self, path: str, root: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.post(path, {root: body})
        assert r.status_code == 201, r.text
        self.settle()
        return dict(r.json()[root])

    def stack(self) -> dict[str, Any]:
        lb = self.lb(name="lb")
        li = self.child(
            "/v2/lbaas/listeners",
            "listener",
            {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80},
        )
        pool = self.child(
            "/v2/lbaas/pools",
            "pool",
            {
                "listener_id": li["id"],
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "name": "pool",
            },
        )
        return {"lb": lb, "listener": li, "pool": pool}

    def lb_status(self, lb_id: str) -> str:
        return str(
            self.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
                "provisioning_status"
            ]
        )


def _truncate(db: Database) -> None:
    with db.write() as s:
        names = [t.name for t in reversed(Base.metadata.sorted_tables)]
        if db.is_sqlite:
            for n in names:
                s.execute(text(f"DELETE FROM {n}"))
        else:
            s.execute(text("TRUNCATE " + ", ".join(names) + " CASCADE"))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "ostium.sqlite"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Database]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_database")
    upgrade(url)
    db = open_database(url)
    yield db
    db.dispose()


def make_api(
    db: Database, tmp_path: Path, config: str | None = None, **api_overrides: Any
) -> Iterator[Api]:
    """`config`: the text of an INI file to load (e.g. `[identity]` options)."""
    _truncate(db)
    config_file = None
    if config is not None:
        config_file = str(tmp_path / "ostium.ini")
        Path(config_file).write_text(config)
    settings = load_settings(config_file, state_dir=str(tmp_path), compute_driver="noop")
    if api_overrides:
        settings = dataclasses.replace(
            settings, api=dataclasses.replace(settings.api, **api_overrides)
        )
    settings = dataclasses.replace(
        settings, database=dataclasses.replace(settings.database, connection=db.url)
    )
    worker = WorkerLoop(db, settings, NoopDriver())
    svc = ServiceContext(db=db, settings=settings, wake=lambda: None)
    with TestClient(create_app(svc), raise_server_exceptions=False) as client:
        yield Api(client, worker, db, settings)
    worker.pool.shutdown(wait=True)


@pytest.fixture
def api(database: Database, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(database, tmp_path)


@pytest.fixture
def token_api(database: Database, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(database, tmp_path, auth_strategy="token")


def make_token(db: Database, project: str, *roles: str) -> str:
    import secrets

    from ostium.control.db import models as m
    from ostium.control.identity.context import hash_token
    from ostium.model.ids import new_id

    token = secrets.token_urlsafe(16)
    with db.write() as s:
        s.add(
            m.ApiToken(
                id=new_id(), token_hash=hash_token(token), project_id=project, roles=",".join(roles)
            )
        )
    return token


__all__ = ["Api", "make_token", "threading"]
