"""Runtime-update planning, nftables rendering, generation refusal, agent client errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import httpx
import pytest
from agent_spec_factory import CTX, listener, member, pool, spec

from ostium.agent import firewall, runtime_update
from ostium.agent.amphora import Amphora as _Amphora
from ostium.agent.amphorae import AgentSettings, AmphoraManager
from ostium.agent.errors import StaleGeneration
from ostium.agent.naming import Names
from ostium.agent.render import build_view
from ostium.agent_client import AgentClient, AgentRefused, AgentUnavailable, StaleSpec
from ostium.model.errors import PermanentError, TransientError
from ostium.model.spec import AmphoraSpec


def _two(weight: int = 1, enabled: bool = True, extra: bool = False) -> AmphoraSpec:
    members = [
        member(id="11111111-1111-1111-1111-111111111111", weight=weight, admin_state_up=enabled),
        member("198.18.1.12", id="22222222-2222-2222-2222-222222222222"),
    ]
    if extra:
        members.append(member("198.18.1.13", id="33333333-3333-3333-3333-333333333333"))
    p = pool(id="aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", members=members)
    lst = listener(id="bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb", default_pool_id=p["id"])
    return spec(
        [lst],
        [p],
        amphora_id="cccccccc-cccc-cccc-cccc-cccccccccccc",
        loadbalancer_id="dddddddd-dddd-dddd-dddd-dddddddddddd",
    )


BE = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
M1 = "11111111-1111-1111-1111-111111111111"
M3 = "33333333-3333-3333-3333-333333333333"


def _plan(old: AmphoraSpec, new: AmphoraSpec) -> runtime_update.RuntimePlan | None:
    return runtime_update.plan(build_view(old, CTX), build_view(new, CTX))


def test_plan_weight_and_state_changes() -> None:
    plan = _plan(_two(), _two(weight=0, enabled=False))
    assert plan is not None
    assert plan.add == [f"set server {BE}/{M1} weight 0", f"set server {BE}/{M1} state maint"]
    assert plan.remove == []


def test_plan_add_and_remove_servers() -> None:
    plan = _plan(_two(), _two(extra=True))
    assert plan is not None
    assert plan.add == [
        f"add server {BE}/{M3} 198.18.1.13:8080 weight 1",
        f"set server {BE}/{M3} state ready",
    ]
    back = _plan(_two(extra=True), _two())
    assert back is not None and back.remove == [(BE, M3)]


def test_plan_nothing_changed_is_empty() -> None:
    plan = _plan(_two(), _two().model_copy(update={"generation": 7}))
    assert plan is not None and plan.empty


def test_plan_structural_change_needs_reload() -> None:
    new = _two()
    new.listeners[0].timeout_client_data = 1234
    assert _plan(_two(), new) is None


def test_firewall_restricts_only_listed_ports() -> None:
    p = pool()
    s = spec(
        [
            listener(
                port=80,
                default_pool_id=p["id"],
                allowed_cidrs=["198.18.0.0/24", "10.0.0.0/8", "2001:db8::/64"],
            ),
            listener(port=81, default_pool_id=p["id"]),
        ],
        [p],
    )
    text = firewall.render_ruleset(s)
    assert "tcp dport 80 ip saddr { 10.0.0.0/8, 198.18.0.0/24 } accept" in text
    assert "tcp dport 80 ip6 saddr { 2001:db8::/64 } accept" in text
    assert "tcp dport 80 drop" in text
    assert "dport 81" not in text
    assert text.startswith("table inet ostium_amphora\ndelete table inet ostium_amphora\n")


def test_stale_generation_refused_before_touching_the_host() -> None:
    # A short state dir: unix socket paths are limited and pytest's tmp_path can be long.
    with tempfile.TemporaryDirectory(prefix="ostu-") as short:
        _stale_generation_refused(Path(short))


def _stale_generation_refused(tmp_path: Path) -> None:
    manager = AmphoraManager(AgentSettings(state_dir=tmp_path, name_prefix="ostu-"))
    applied = _two().model_copy(update={"generation": 5})
    amp = _Amphora(Names("ostu-", applied.amphora_id), tmp_path, applied.plug(), applied)
    manager.registry.add(amp)
    with pytest.raises(StaleGeneration) as err:
        manager.apply(applied.model_copy(update={"generation": 4}))
    assert err.value.status == 409
    assert err.value.details == {"applied_generation": 5}


def _client(handler: httpx.MockTransport) -> AgentClient:
    return AgentClient(httpx.Client(transport=handler, base_url="https://agent"))


def test_client_translates_errors() -> None:
    s = _two()

    def answer(status: int, code: str) -> httpx.MockTransport:
        body = {"error": code, "message": f"msg {code}", "details": ["d"]}
        return httpx.MockTransport(lambda r: httpx.Response(status, json=body))

    with pytest.raises(StaleSpec) as stale:
        _client(answer(409, "stale_generation")).apply_spec(s)
    assert isinstance(stale.value, PermanentError) and stale.value.message == "msg stale_generation"
    with pytest.raises(AgentRefused) as bad:
        _client(answer(400, "invalid_config")).apply_spec(s)
    assert bad.value.details == ["d"] and not isinstance(bad.value, StaleSpec)
    with pytest.raises(AgentUnavailable) as down:
        _client(answer(500, "agent_failure")).apply_spec(s)
    assert isinstance(down.value, TransientError)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(AgentUnavailable):
        _client(httpx.MockTransport(refuse)).list_amphorae()
    assert _client(answer(404, "not_found")).get_amphora(s.amphora_id) is None


def test_client_round_trips_models() -> None:
    s = _two()
    state = {
        "amphora_id": s.amphora_id,
        "namespace": "amp-x",
        "applied_generation": 1,
        "haproxy_running": True,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            sent = json.loads(request.content)
            assert sent["generation"] == s.generation
            assert request.url.path == f"/amphorae/{s.amphora_id}/spec"
        if request.url.path == "/amphorae":
            return httpx.Response(200, json={"amphorae": [state]})
        return httpx.Response(200, json=state)

    client = _client(httpx.MockTransport(handler))
    assert client.apply_spec(s).applied_generation == 1
    assert client.list_amphorae()[0].haproxy_running


def _networks(*subnets: str) -> list[dict[str, str]]:
    return [
        {
            "subnet_id": s,
            "bridge": f"ostt-{s}",
            "cidr": f"198.18.{i}.0/24",
            "address": f"198.18.{i}.5",
        }
        for i, s in enumerate(subnets, start=10)
    ]


def test_only_the_member_networks_a_spec_adds_are_plugged_again() -> None:
    """A pool's first member on a new subnet plugs that subnet alone; anything else that
    changed (the VIP, a network gone) means the whole amphora is ensured again."""
    from ostium.agent.amphorae import new_member_networks

    before = spec([], [], member_networks=_networks("a")).plug()
    added = before.model_copy(
        update={
            "member_networks": spec([], [], member_networks=_networks("a", "b")).member_networks
        }
    )
    assert [n.subnet_id for n in new_member_networks(before, added) or []] == ["b"]
    assert new_member_networks(before, before) == []
    assert new_member_networks(None, added) is None  # nothing plugged yet
    assert new_member_networks(added, before) is None  # one left
    moved = before.model_copy(
        update={"vip": before.vip.model_copy(update={"bridge": "ostt-other"})}
    )
    assert new_member_networks(before, moved) is None


def test_an_unsolicited_neighbour_advertisement_overrides_the_cached_mac() -> None:
    from ostium.agent import garp

    mac = bytes.fromhex("02000000a001")
    packet = garp.advert(mac, "2001:2::30")
    assert packet[0] == 136 and packet[1] == 0  # neighbour advertisement, code 0
    assert int.from_bytes(packet[4:8], "big") == garp.OVERRIDE  # not solicited, override
    assert packet[8:24] == bytes.fromhex("20010002000000000000000000000030")
    assert packet[24:] == b"\x02\x01" + mac  # target link-layer address option
