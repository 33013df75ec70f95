"""Helpers shared by the data-plane e2e tests (spec builders, VIP HTTP helpers)."""

from __future__ import annotations

import http.client
import itertools
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ostium.agent_client import AgentClient
from ostium.devtools.demo_backends import DemoNetwork
from ostium.model.spec import AmphoraSpec

PREFIX = "ostt-"
VIP_BRIDGE = "ostt-vip"
MEM_BRIDGE = "ostt-mem"
MEM_SUBNET = "ostt-mem-subnet"


def sh(*argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


COUNTER = itertools.count(10)


def server_sessions(stats_sock: Path) -> list[int]:
    """Current sessions per server, as the amphora's running haproxy counts them."""
    cmd = f"echo 'show stat' | socat - UNIX-CONNECT:{stats_sock}"
    out = sh("sh", "-c", cmd).stdout
    rows = [line.split(",") for line in out.splitlines() if line and not line.startswith("#")]
    # pxname,svname,qcur,qmax,scur,...: server rows are neither FRONTEND nor BACKEND
    return [int(r[4]) for r in rows if len(r) > 4 and r[1] not in ("FRONTEND", "BACKEND")]


@dataclass
class Amphora:
    """One amphora under test, with a spec builder and HTTP helpers for its VIP."""

    client: AgentClient
    backends: DemoNetwork
    index: int
    amphora_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    loadbalancer_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    generation: int = 0

    @property
    def vip(self) -> str:
        return f"198.18.0.{self.index}"

    def spec(
        self, listeners: list[dict[str, Any]], pools: list[dict[str, Any]], **kw: Any
    ) -> AmphoraSpec:
        self.generation += 1
        data: dict[str, Any] = {
            "amphora_id": self.amphora_id,
            "loadbalancer_id": self.loadbalancer_id,
            "generation": self.generation,
            "vip": {
                "network_id": "ostt-vipnet",
                "bridge": VIP_BRIDGE,
                "address": self.vip,
                "prefixlen": 24,
                "gateway": "198.18.0.1",
                "host_address": "198.18.0.1",
            },
            "member_networks": [
                {
                    "subnet_id": MEM_SUBNET,
                    "bridge": MEM_BRIDGE,
                    "cidr": "198.18.1.0/24",
                    "address": f"198.18.1.{100 + self.index}",
                }
            ],
            "listeners": listeners,
            "pools": pools,
        }
        data.update(kw)
        return AmphoraSpec.model_validate(data)

    def apply(
        self, listeners: list[dict[str, Any]], pools: list[dict[str, Any]], **kw: Any
    ) -> AmphoraSpec:
        spec = self.spec(listeners, pools, **kw)
        state = self.client.apply_spec(spec)
        assert state.applied_generation == spec.generation
        return spec

    def get(
        self,
        path: str = "/",
        port: int = 80,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection(self.vip, port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read().decode()
            return resp.status, body.strip(), {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def names(self, n: int, path: str = "/", **kw: Any) -> list[str]:
        return [self.get(path, **kw)[1] for _ in range(n)]


def member(name: str, **kw: Any) -> dict[str, Any]:
    index = int(name[1:])
    return {
        "id": str(uuid.uuid4()),
        "address": f"198.18.1.{10 + index}",
        "protocol_port": 8080,
        "subnet_id": MEM_SUBNET,
        **kw,
    }


def pool(*members: dict[str, Any], algorithm: str = "ROUND_ROBIN", **kw: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "protocol": "HTTP",
        "lb_algorithm": algorithm,
        "members": list(members),
        **kw,
    }


def listener(pool_id: str | None, port: int = 80, **kw: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "protocol": "HTTP",
        "protocol_port": port,
        "default_pool_id": pool_id,
        **kw,
    }
