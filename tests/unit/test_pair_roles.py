"""ACTIVE_STANDBY rules (pure): who is MASTER, what gets replaced, where amphorae go."""

from __future__ import annotations

import pytest

from ostium.control.worker.pair_roles import (
    BACKUP_PRIORITY,
    MASTER_PRIORITY,
    PairMember,
    current_master,
    roles,
    victims,
    vrrp_id,
)
from ostium.control.worker.placement import place
from ostium.model.enums import AmphoraRole
from ostium.model.errors import PermanentError


def amp(
    i: str,
    role: str | None = None,
    state: str | None = None,
    failed: bool = False,
    order: int = 0,
    host: str | None = None,
) -> PairMember:
    return PairMember(
        id=i, role=role, vrrp_state=state, failed=failed, host=host, created_order=order
    )


def test_the_amphora_holding_the_vip_is_master_whatever_its_role() -> None:
    pair = [amp("a", "MASTER", "BACKUP", order=0), amp("b", "BACKUP", "MASTER", order=1)]
    assert current_master(pair) == "b"
    assert roles(pair) == {
        "b": (AmphoraRole.MASTER, MASTER_PRIORITY),
        "a": (AmphoraRole.BACKUP, BACKUP_PRIORITY),
    }


def test_without_a_report_the_master_role_then_the_oldest_wins() -> None:
    assert current_master([amp("a", "BACKUP", order=0), amp("b", "MASTER", order=1)]) == "b"
    assert current_master([amp("a", order=1), amp("b", order=0)]) == "b"
    assert current_master([]) is None


def test_a_replacement_joins_as_backup() -> None:
    survivor = amp("s", "BACKUP", "MASTER", order=0)
    new = amp("n", order=1)
    assert roles([survivor, new]) == {
        "s": (AmphoraRole.MASTER, MASTER_PRIORITY),
        "n": (AmphoraRole.BACKUP, BACKUP_PRIORITY),
    }
    # Even when the newcomer is older by id order and nobody reported yet.
    assert roles([amp("n", order=0), amp("s", "MASTER", order=1)])["n"][0] == AmphoraRole.BACKUP


def test_a_failed_amphora_never_stays_master() -> None:
    pair = [amp("a", "MASTER", "MASTER", failed=True), amp("b", "BACKUP", "BACKUP", order=1)]
    assert current_master(pair) == "b"


def test_victims_are_the_failed_ones_or_with_failover_everyone_backup_first() -> None:
    healthy = [amp("m", "MASTER", "MASTER", order=0), amp("b", "BACKUP", "BACKUP", order=1)]
    assert victims(healthy, failover=False) == []
    assert victims(healthy, failover=True) == ["b", "m"]
    broken = [amp("m", "MASTER", "MASTER", failed=True), amp("b", "BACKUP", "BACKUP", order=1)]
    assert victims(broken, failover=False) == ["m"]
    assert victims(broken, failover=True) == ["m"]


def test_vrrp_id_is_stable_and_in_range() -> None:
    ids = {vrrp_id(f"00000000-0000-0000-0000-{i:012d}") for i in range(500)}
    assert ids <= set(range(1, 256)) and len(ids) > 100
    assert vrrp_id("x") == vrrp_id("x")


def test_placement_prefers_a_host_free_of_the_pair_least_loaded_first() -> None:
    hosts = ["h1", "h2", "h3"]
    assert place(hosts, ["h1"], {"h2": 5, "h3": 1}, "preferred") == "h3"
    assert place(hosts, ["h1"], {}, "required") == "h2"
    assert place(hosts, [None], {"h1": 2}, "preferred") == "h2"


def test_one_host_is_shared_unless_anti_affinity_is_required() -> None:
    assert place(["h1"], ["h1"], {}, "preferred") == "h1"
    with pytest.raises(PermanentError, match="anti-affinity is required"):
        place(["h1"], ["h1"], {}, "required")
    assert place([], [None], {}, "preferred") is None
    with pytest.raises(PermanentError, match="no hosts"):
        place([], [None], {}, "required")
