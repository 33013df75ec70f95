"""The UDP/SCTP checker looks only at amphorae with such work, and sees a change at once."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from agent_spec_factory import listener, member, pool, simple, spec, uid

from ostium.agent.nftables.checking import LvsChecker
from ostium.agent.registry import AmphoraRegistry
from ostium.model.spec import AmphoraSpec


def _udp_monitored(amphora_id: str) -> AmphoraSpec:
    monitor = {"id": uid(), "type": "UDP-CONNECT", "delay": 3, "timeout": 2, "max_retries": 2}
    p = pool("UDP", members=[member(port=53)], healthmonitor=monitor)
    return spec([listener("UDP", 53, default_pool_id=p["id"])], [p], amphora_id=amphora_id)


def test_only_amphorae_with_udp_checks_are_walked_and_an_apply_is_seen_at_once() -> None:
    root = Path(tempfile.mkdtemp(prefix="ostt-", dir="/tmp"))  # unix socket paths: short
    try:
        registry = AmphoraRegistry(root, "ostt")
        http = simple()
        a = registry.get_or_create(http.plug())
        a.spec = http
        registry.save_spec(a, http)
        b_http = simple()
        b = registry.get_or_create(b_http.plug())
        checker = LvsChecker(registry)
        assert checker._to_look_at() == []  # two amphorae, neither with UDP work

        udp = _udp_monitored(b.amphora_id)
        b.spec = udp
        registry.save_spec(b, udp)
        assert checker._to_look_at() == [b]
        assert checker._to_look_at() == [b]  # nothing changed: the same list, no walk

        b.spec = b_http  # the UDP listener deleted
        registry.save_spec(b, b_http)
        assert checker._to_look_at() == []
        b.spec = udp
        registry.save_spec(b, udp)
        registry.remove(b.amphora_id)
        assert checker._to_look_at() == []
    finally:
        shutil.rmtree(root, ignore_errors=True)
