"""ACTIVE_STANDBY in the control plane, on a real database (SQLite and PostgreSQL) with a
recording compute driver: the pair's rows and specs, topology from the config or a
flavor, anti-affinity, VRRP state from heartbeats, replacement of a lost amphora, and
convergence of both amphorae before ACTIVE."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from ostium.control.api.app import create_app
from ostium.control.db import models as m
from ostium.control.db.engine import Database
from ostium.control.health.updater import HealthUpdater
from ostium.control.services.context import ServiceContext
from ostium.control.settings import load_settings
from ostium.control.worker.loop import WorkerLoop
from ostium.drivers.compute.noop import NoopDriver
from ostium.model.enums import VrrpState
from ostium.model.errors import TransientError
from ostium.model.heartbeat import HaproxyState, Heartbeat, ListenerReport, PoolReport
from ostium.model.spec import AmphoraSpec
from tests.api.conftest import Api, _truncate


class Recorder(NoopDriver):
    """The noop driver, remembering what it was asked; can fail applies on demand."""

    def __init__(self) -> None:
        self.applied: list[AmphoraSpec] = []
        self.destroyed: list[str] = []
        self.failures: dict[str, int] = {}

    def apply(self, spec: AmphoraSpec) -> int:
        left = self.failures.get(spec.amphora_id, 0)
        if left:
            self.failures[spec.amphora_id] = left - 1
            raise TransientError(f"agent of {spec.amphora_id} is away")
        self.applied.append(spec)
        return spec.generation

    def destroy(self, amphora_id: str) -> None:
        self.destroyed.append(amphora_id)


@dataclasses.dataclass
class Pair:
    api: Api
    driver: Recorder

    def create(self, **body: Any) -> str:
        lb = self.api.lb(
            listeners=[{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}],
            pools=[
                {
                    "name": "p",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": "198.18.1.11", "protocol_port": 8080}],
                }
            ],
            **body,
        )
        return str(lb["id"])

    def amphorae(self, lb_id: str) -> list[dict[str, Any]]:
        r = self.api.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id})
        assert r.status_code == 200, r.text
        return sorted(r.json()["amphorae"], key=lambda a: a["role"] != "MASTER")

    def status(self, lb_id: str) -> dict[str, Any]:
        return dict(
            self.api.get(f"/v2/lbaas/loadbalancers/{lb_id}/status").json()["statuses"][
                "loadbalancer"
            ]
        )

    def last_specs(self) -> dict[str, AmphoraSpec]:
        return {s.amphora_id: s for s in self.driver.applied}


def make_pair_api(
    db: Database, tmp_path: Path, driver: Recorder, topology: str = "ACTIVE_STANDBY", **worker: Any
) -> Iterator[Pair]:
    _truncate(db)
    settings = load_settings(state_dir=str(tmp_path), compute_driver="noop")
    settings = dataclasses.replace(
        settings,
        database=dataclasses.replace(settings.database, connection=db.url),
        worker=dataclasses.replace(settings.worker, loadbalancer_topology=topology, **worker),
    )
    loop = WorkerLoop(db, settings, driver)
    svc = ServiceContext(db=db, settings=settings, wake=lambda: None)
    with TestClient(create_app(svc), raise_server_exceptions=False) as client:
        yield Pair(Api(client, loop, db, settings), driver)
    loop.pool.shutdown(wait=True)


@pytest.fixture
def pair(database: Database, tmp_path: Path) -> Iterator[Pair]:
    yield from make_pair_api(database, tmp_path, Recorder(), retry_backoff=0.01)


PairFactory = Callable[..., Pair]


@pytest.fixture
def pair_factory(database: Database, tmp_path: Path) -> Iterator[PairFactory]:
    made: list[Iterator[Pair]] = []

    def make(**kw: Any) -> Pair:
        gen = make_pair_api(database, tmp_path, Recorder(), **kw)
        made.append(gen)
        return next(gen)

    yield make
    for gen in made:
        next(gen, None)


# ------------------------------------------------------------------ the pair


def test_two_amphorae_with_their_own_addresses_master_pushed_first(pair: Pair) -> None:
    lb_id = pair.create()
    assert pair.api.lb_status(lb_id) == "ACTIVE"
    lb = pair.api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    master, backup = pair.amphorae(lb_id)
    assert (master["role"], backup["role"]) == ("MASTER", "BACKUP")
    assert (master["vrrp_priority"], backup["vrrp_priority"]) == (100, 90)
    assert master["vrrp_id"] == backup["vrrp_id"] and 1 <= master["vrrp_id"] <= 255
    subnet = ipaddress.ip_network("198.18.0.0/17")
    for a in (master, backup):
        assert ipaddress.ip_address(a["vrrp_ip"]) in subnet
        assert a["ha_ip"] == lb["vip_address"] != a["vrrp_ip"]
        assert a["status"] == "ALLOCATED" and a["vrrp_interface"] == "eth1"
    assert master["vrrp_ip"] != backup["vrrp_ip"]
    # Both amphorae got the same generation, MASTER first, each naming the other.
    first, second = pair.driver.applied[-2:]
    assert (first.amphora_id, second.amphora_id) == (master["id"], backup["id"])
    assert first.generation == second.generation
    for spec, other in ((first, backup), (second, master)):
        assert spec.vrrp is not None and spec.vip.address == ipaddress.ip_address(lb["vip_address"])
        assert [(p.amphora_id, str(p.address)) for p in spec.vrrp.peers] == [
            (other["id"], other["vrrp_ip"])
        ]
        assert spec.vrrp.version == 3 and spec.vrrp.advert_interval == 0.1
        assert spec.vrrp.watch_haproxy and spec.plug().vrrp_ip == spec.vrrp.vrrp_ip
    # The status tree names the pair; the API's own listing is unchanged.
    assert {a["id"]: a["role"] for a in pair.status(lb_id)["amphorae"]} == {
        master["id"]: "MASTER",
        backup["id"]: "BACKUP",
    }
    # Deleting releases the VIP and both vrrp addresses.
    assert pair.api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true").status_code == 204
    pair.api.settle()
    with pair.api.db.read() as s:
        assert s.scalars(select(m.IpAllocation)).all() == []
    assert set(pair.driver.destroyed) == {master["id"], backup["id"]}


def test_topology_comes_from_the_flavor_per_load_balancer(pair_factory: PairFactory) -> None:
    pair = pair_factory(topology="SINGLE")
    profile = pair.api.post(
        "/v2/lbaas/flavorprofiles",
        {
            "flavorprofile": {
                "name": "ha",
                "provider_name": "amphora",
                "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"}),
            }
        },
    ).json()["flavorprofile"]
    flavor = pair.api.post(
        "/v2/lbaas/flavors", {"flavor": {"name": "ha", "flavor_profile_id": profile["id"]}}
    ).json()["flavor"]
    ha = pair.create(flavor_id=flavor["id"])
    single = pair.create()
    assert [a["role"] for a in pair.amphorae(ha)] == ["MASTER", "BACKUP"]
    assert [a["role"] for a in pair.amphorae(single)] == ["STANDALONE"]
    assert pair.last_specs()[pair.amphorae(single)[0]["id"]].vrrp is None
    assert "amphorae" not in pair.status(single)
    for lb_id in (ha, single):
        assert pair.api.lb_status(lb_id) == "ACTIVE"


@pytest.mark.parametrize(
    "change",
    [
        {"topology": "ACTIVE_STANDBY"},
        {"flavor_id": None},
        {"flavor_id": "2a1a3c5e-31a0-4a3c-9f9e-0e5c3c9b1c11"},
    ],
)
def test_changing_the_topology_later_is_refused(
    pair_factory: PairFactory, change: dict[str, Any]
) -> None:
    pair = pair_factory(topology="SINGLE")
    lb_id = pair.create()
    r = pair.api.put(f"/v2/lbaas/loadbalancers/{lb_id}", {"loadbalancer": change})
    assert r.status_code == 400
    assert "cannot be changed" in r.json()["faultstring"]
    assert pair.api.lb_status(lb_id) == "ACTIVE"


def test_required_anti_affinity_on_one_host_is_an_error_not_a_colocation(
    pair_factory: PairFactory,
) -> None:
    pair = pair_factory(anti_affinity="required")
    lb_id = pair.create()
    assert pair.api.lb_status(lb_id) == "ERROR"
    with pair.api.db.read() as s:
        reason = s.get(m.LoadBalancer, lb_id).error_reason  # type: ignore[union-attr]
    assert "anti-affinity is required" in (reason or "") and "1 host" in (reason or "")
    assert pair.amphorae(lb_id) == []


# ------------------------------------------------------------------ heartbeats


def _heartbeat(
    amp_id: str,
    seq: int,
    vrrp: VrrpState,
    listener: str,
    pool: str,
    haproxy: HaproxyState = HaproxyState.RUNNING,
) -> Heartbeat:
    running = haproxy == HaproxyState.RUNNING
    return Heartbeat(
        amphora_id=amp_id,
        seq=seq,
        timestamp=1e9,
        generation=1,
        agent_version="t",
        haproxy=haproxy,
        listeners={listener: ListenerReport("OPEN")} if running else {},
        pools={pool: PoolReport("UP")} if running else {},
        vrrp=vrrp,
    )


def test_heartbeats_say_which_amphora_is_master_now(pair: Pair) -> None:
    lb_id = pair.create()
    master, backup = (a["id"] for a in pair.amphorae(lb_id))
    tree = pair.status(lb_id)
    listener = tree["listeners"][0]["id"]
    pool = tree["listeners"][0]["pools"][0]["id"]
    updater = HealthUpdater(pair.api.db)
    updater.process(
        [
            _heartbeat(master, 1, VrrpState.MASTER, listener, pool),
            _heartbeat(backup, 1, VrrpState.BACKUP, listener, pool),
        ]
    )
    assert {a["id"]: a["vrrp_state"] for a in pair.status(lb_id)["amphorae"]} == {
        master: "MASTER",
        backup: "BACKUP",
    }
    # The MASTER's haproxy dies: keepalived demotes it, the BACKUP takes the VIP.
    with pair.api.db.read() as s:
        seen = s.get(m.Amphora, master).last_heartbeat  # type: ignore[union-attr]
    updater.process(
        [
            _heartbeat(master, 2, VrrpState.FAULT, listener, pool, HaproxyState.DOWN),
            _heartbeat(backup, 2, VrrpState.MASTER, listener, pool),
        ]
    )
    with pair.api.db.read() as s:  # FAULT is not "alive": it goes silent, then is replaced
        assert s.get(m.Amphora, master).last_heartbeat == seen  # type: ignore[union-attr]
    roles = {a["id"]: a["role"] for a in pair.amphorae(lb_id)}
    assert roles == {master: "BACKUP", backup: "MASTER"}
    assert pair.amphorae(lb_id)[0]["id"] == backup
    listed = pair.api.get("/v2/octavia/amphorae", params={"role": "MASTER"}).json()["amphorae"]
    assert [a["id"] for a in listed] == [backup]
    # The amphora serving the VIP speaks for the load balancer: still ONLINE.
    assert pair.status(lb_id)["operating_status"] == "ONLINE"
    assert {a["id"]: a["vrrp_state"] for a in pair.status(lb_id)["amphorae"]} == {
        master: "FAULT",
        backup: "MASTER",
    }
    # A link down with haproxy running: FAULT alone is enough to stop counting as alive.
    updater.process([_heartbeat(master, 3, VrrpState.FAULT, listener, pool)])
    with pair.api.db.read() as s:
        assert s.get(m.Amphora, master).last_heartbeat == seen  # type: ignore[union-attr]


# ------------------------------------------------------------------ failover and convergence


def test_a_lost_amphora_is_replaced_and_the_newcomer_joins_as_backup(pair: Pair) -> None:
    lb_id = pair.create()
    master, backup = (a["id"] for a in pair.amphorae(lb_id))
    with pair.api.db.write() as s:  # what heartbeats say after the MASTER's namespace went
        s.execute(
            update(m.Amphora)
            .where(m.Amphora.id == master)
            .values(haproxy_state="NO_NAMESPACE", vrrp_state="STOP")
        )
        s.execute(update(m.Amphora).where(m.Amphora.id == backup).values(vrrp_state="MASTER"))
    pair.driver.applied.clear()
    r = pair.api.put(f"/v2/lbaas/loadbalancers/{lb_id}/failover")
    assert r.status_code == 202, r.text
    pair.api.settle()
    assert pair.api.lb_status(lb_id) == "ACTIVE"
    survivor, newcomer = pair.amphorae(lb_id)
    assert survivor["id"] == backup and survivor["role"] == "MASTER"
    assert survivor["vrrp_priority"] == 100
    assert newcomer["id"] not in (master, backup) and newcomer["role"] == "BACKUP"
    assert pair.driver.destroyed == [master]  # only the lost one; the survivor kept the VIP
    # The survivor learnt its new peer before the newcomer's keepalived started.
    order = [s.amphora_id for s in pair.driver.applied]
    assert order == [backup, newcomer["id"]]
    peers = pair.last_specs()[backup].vrrp.peers  # type: ignore[union-attr]
    assert [p.amphora_id for p in peers] == [newcomer["id"]]


def test_failover_of_a_healthy_pair_replaces_both_backup_first(pair: Pair) -> None:
    lb_id = pair.create()
    master, backup = (a["id"] for a in pair.amphorae(lb_id))
    assert pair.api.put(f"/v2/lbaas/loadbalancers/{lb_id}/failover").status_code == 202
    pair.api.settle()
    assert pair.api.lb_status(lb_id) == "ACTIVE"
    assert pair.driver.destroyed == [backup, master]
    now = {a["id"] for a in pair.amphorae(lb_id)}
    assert len(now) == 2 and not now & {master, backup}


def test_active_only_when_both_amphorae_have_the_new_generation(pair: Pair) -> None:
    lb_id = pair.create()
    master, backup = (a["id"] for a in pair.amphorae(lb_id))
    pool = pair.status(lb_id)["listeners"][0]["pools"][0]["id"]
    pair.driver.failures[backup] = 2  # the BACKUP's agent is away twice, then answers
    pair.driver.applied.clear()
    member = pair.api.post(
        f"/v2/lbaas/pools/{pool}/members",
        {"member": {"address": "198.18.1.12", "protocol_port": 8080}},
    ).json()["member"]
    pair.api.settle()
    assert pair.api.lb_status(lb_id) == "ACTIVE"
    specs = pair.last_specs()
    assert specs[master].generation == specs[backup].generation
    assert member["id"] in {mb.id for mb in specs[backup].pools[0].members}
    with pair.api.db.read() as s:
        gens = {
            a.id: a.applied_generation
            for a in s.scalars(
                select(m.Amphora).where(
                    m.Amphora.load_balancer_id == lb_id, m.Amphora.status != "DELETED"
                )
            )
        }
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None and gens == {master: lb.generation, backup: lb.generation}
    # An amphora that never answers: ERROR with the reason, never ACTIVE with one of two.
    pair.driver.failures[backup] = 100
    pair.api.post(
        f"/v2/lbaas/pools/{pool}/members",
        {"member": {"address": "198.18.1.13", "protocol_port": 8080}},
    )
    pair.api.settle()
    assert pair.api.lb_status(lb_id) == "ERROR"
    with pair.api.db.read() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None and backup in (lb.error_reason or "")
