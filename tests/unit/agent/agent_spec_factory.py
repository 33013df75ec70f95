"""Builders of representative `AmphoraSpec`s for the agent's unit tests."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from ostium.agent.render import RenderContext, render_haproxy
from ostium.model.spec import AmphoraSpec


def uid() -> str:
    return str(uuid.uuid4())


def member(address: str = "198.18.1.11", port: int = 8080, **kw: Any) -> dict[str, Any]:
    return {"id": uid(), "address": address, "protocol_port": port, **kw}


def pool(protocol: str = "HTTP", algorithm: str = "ROUND_ROBIN", **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": uid(), "protocol": protocol, "lb_algorithm": algorithm}
    data.setdefault("members", [member(), member("198.18.1.12")])
    data.update(kw)
    return data


def listener(protocol: str = "HTTP", port: int = 80, **kw: Any) -> dict[str, Any]:
    return {"id": uid(), "protocol": protocol, "protocol_port": port, **kw}


def spec(listeners: list[dict[str, Any]], pools: list[dict[str, Any]], **kw: Any) -> AmphoraSpec:
    data: dict[str, Any] = {
        "amphora_id": uid(),
        "loadbalancer_id": uid(),
        "generation": 1,
        "vip": {
            "network_id": "vipnet",
            "bridge": "ostt-vip",
            "address": "198.18.0.10",
            "prefixlen": 24,
            "gateway": "198.18.0.1",
        },
        "listeners": listeners,
        "pools": pools,
    }
    data.update(kw)
    return AmphoraSpec.model_validate(data)


def simple(**listener_kw: Any) -> AmphoraSpec:
    p = pool()
    return spec([listener(default_pool_id=p["id"], **listener_kw)], [p])


CTX = RenderContext(stats_socket="/tmp/ostt-unit/stats.sock", max_maxconn=9000)


def render(s: AmphoraSpec) -> str:
    return render_haproxy(s, CTX)


def haproxy_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / f"haproxy-{uid()}.cfg"
    cfg.write_text(text)
    return subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)


def assert_valid(text: str, tmp_path: Path) -> None:
    proc = haproxy_check(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n" + text
