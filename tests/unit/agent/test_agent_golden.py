"""Rendered configs compared with reviewed golden files, and still checked by their tools.

Each `tests/unit/golden/<case>.spec.json` is an `AmphoraSpec`; next to it are the texts
the agent must render for it: `<case>.haproxy.cfg`, `<case>.keepalived.conf` (pairs
only) and `<case>.nftables.conf` (listeners with allowed_cidrs only). A change in
rendering shows up as a diff of these files in review. After an intended change,
regenerate them with `OSTIUM_UPDATE_GOLDEN=1 pytest tests/unit/agent/test_agent_golden.py`
and read the diff before committing: the golden text is the reviewed truth.

Every golden text is also checked the way the agent checks it: `haproxy -c`,
`keepalived -t` (root, in a throw-away network namespace with `eth1`), `nft -c`.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from agent_spec_factory import assert_valid

from ostium.agent import firewall
from ostium.agent.keepalived_config import KeepalivedFiles, render_keepalived
from ostium.agent.render import RenderContext, render_haproxy
from ostium.model.spec import AmphoraSpec

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("OSTIUM_UPDATE_GOLDEN") == "1"
CASES = sorted(p.name.removesuffix(".spec.json") for p in GOLDEN.glob("*.spec.json"))
AMPHORA_DIR = "/var/lib/ostium/agent/amphorae/amp-a00000000000"
CTX = RenderContext(stats_socket=f"{AMPHORA_DIR}/stats.sock", max_maxconn=500_000)
FILES = KeepalivedFiles(
    check_script=f"{AMPHORA_DIR}/vrrp_check.sh",
    notify_script=f"{AMPHORA_DIR}/vrrp_notify.sh",
    track_file=f"{AMPHORA_DIR}/haproxy.track",
)


def load(case: str) -> AmphoraSpec:
    return AmphoraSpec.model_validate_json((GOLDEN / f"{case}.spec.json").read_text())


def expect_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run with OSTIUM_UPDATE_GOLDEN=1, then review it"
    golden = path.read_text()
    diff = "".join(
        difflib.unified_diff(
            golden.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"golden/{name}",
            "rendered",
        )
    )
    assert text == golden, f"rendering differs from the reviewed golden file:\n{diff}"


def needs_root(tool: str) -> None:
    if os.geteuid() != 0 or shutil.which(tool) is None:
        pytest.skip(f"checking with {tool} needs root (a throw-away network namespace)")


def in_new_netns(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)


@pytest.mark.parametrize("case", CASES)
def test_haproxy_cfg(case: str, tmp_path: Path) -> None:
    text = render_haproxy(load(case), CTX)
    expect_golden(f"{case}.haproxy.cfg", text)
    assert_valid(text, tmp_path)


@pytest.mark.parametrize("case", [c for c in CASES if load(c).vrrp is not None])
def test_keepalived_conf(case: str, tmp_path: Path) -> None:
    text = render_keepalived(load(case), FILES)
    expect_golden(f"{case}.keepalived.conf", text)
    needs_root("keepalived")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    proc = in_new_netns(f"ip link add eth1 type veth peer name eth1p && keepalived -t -f {conf}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in CASES
        if any(ls.allowed_cidrs or ls.protocol in ("UDP", "SCTP") for ls in load(c).listeners)
    ],
)
def test_nftables_conf(case: str, tmp_path: Path) -> None:
    text = firewall.render_ruleset(load(case))
    expect_golden(f"{case}.nftables.conf", text)
    needs_root("nft")
    rules = tmp_path / "nftables.conf"
    rules.write_text(text)
    # The ruleset deletes its table first: a fresh namespace needs it declared once.
    proc = in_new_netns(f"nft -f {rules} && nft -c -f {rules}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_golden_file_belongs_to_a_case() -> None:
    expected = {f"{c}.spec.json" for c in CASES} | {f"{c}.haproxy.cfg" for c in CASES}
    expected |= {f"{c}.keepalived.conf" for c in CASES if load(c).vrrp is not None}
    expected |= {
        f"{c}.nftables.conf" for c in CASES if any(ls.allowed_cidrs for ls in load(c).listeners)
    }
    present = {p.name for p in GOLDEN.iterdir()}
    assert present == expected, "stale or missing golden files"


def test_an_explicit_zero_timeout_is_rendered_as_zero() -> None:
    # haproxy reads 0 as "no timeout" (it warns at startup); what the user asked for.
    lines = [ln.strip() for ln in render_haproxy(load("zero_timeouts"), CTX).splitlines()]
    frontend_on = lines.index("frontend c0000000-0000-4000-8000-000000000041")
    assert "timeout client 0" in lines[frontend_on:]
    assert {"timeout connect 0", "timeout server 0"} <= set(lines[frontend_on:])
