"""Several "hosts" on one machine: network namespaces, each running its own agent,
joined to one ostium, with a fabric between them.

The picture (every name starts with `ostt`, every address is in 198.19.210.0/24 or
198.19.212.0/22):

- management: the bridge `ostt-mg0` (198.19.210.1/24) in the root namespace, where
  `ostium serve` listens (API over HTTPS, health manager); host N has 198.19.210.1N on it;
- the VIP network `ostt-fv` (kind existing-bridge, 198.19.212.0/22, room for a thousand
  VIPs for bench/hosts.py): in the root namespace
  and in each host namespace a bridge of that name, whose uplink is a veth into the
  bridge `fab` of the fabric namespace `ostt-fb` (what a switch does for a VLAN);
- on the fabric: the client namespace `ostt-cl3` (198.19.212.50) and the backend
  `ostt-bk3` (198.19.212.60:8080, answers `ostt-bk`).

The root namespace's own agent (started by `ostium serve`) is host 0; hosts 1.. join
with `ostium agent --join https://198.19.210.1:PORT --token T`, each with its own state
directory and name prefix (`ostt1`, ...). `kill(n)` is a host dying: its agent is
killed, its namespaces (the host's and its amphorae's) removed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from api_support import Net, Ostium, processes, sh, wait_for

from ostium.drivers.certificates.local_ca import LocalCA

MGMT = "198.19.210"
VIP = Net(
    "ostt-fv",
    "198.19.212.0/22",
    "ostt-fv",
    "ostt-fv-subnet",
    (
        "kind = existing-bridge",
        "gateway = none",
        "allocation_start = 198.19.212.100",
        "allocation_end = 198.19.215.250",
    ),
)
BACKEND = "198.19.212.60"
PY = sys.executable


def ip(*argv: str) -> None:
    sh("ip", *argv, check=True)


def inside(ns: str, *argv: str) -> None:
    sh("ip", "netns", "exec", ns, *argv, check=True)


class HostFabric:
    def __init__(self, hosts: int = 2) -> None:
        self.count = hosts
        self.agents: dict[int, subprocess.Popen[bytes]] = {}
        self.server: subprocess.Popen[bytes] | None = None
        self.ostium: Ostium | None = None
        self.namespaces = ["ostt-fb", "ostt-cl3", "ostt-bk3"]
        self.links = ["ostt-mg0", "ostt-fv", "ostt-u0"]

    # ------------------------------------------------------------------ plumbing

    def _leg(self, ns: str, inner: str, fabric_end: str, cidr: str | None) -> None:
        """A veth from namespace `ns` (`inner`) into the fabric bridge."""
        ip("link", "add", inner, "netns", ns, "type", "veth", "peer", "name", fabric_end)
        ip("link", "set", fabric_end, "netns", "ostt-fb")
        inside("ostt-fb", "ip", "link", "set", fabric_end, "master", "fab", "up")
        if cidr:
            inside(ns, "ip", "addr", "add", cidr, "dev", inner)
        inside(ns, "ip", "link", "set", inner, "up")

    def build(self) -> None:
        for ns in self.namespaces:
            ip("netns", "add", ns)
            inside(ns, "ip", "link", "set", "lo", "up")
        inside("ostt-fb", "ip", "link", "add", "fab", "type", "bridge")
        inside("ostt-fb", "ip", "link", "set", "fab", "up")
        # A fixed address: a bridge without one takes its lowest port's, so a dying host
        # (its port gone) could change it and cut the others off for seconds (ARP).
        ip("link", "add", "ostt-mg0", "address", "02:00:c6:13:d2:01", "type", "bridge")
        ip("addr", "add", f"{MGMT}.1/24", "dev", "ostt-mg0")
        ip("link", "set", "ostt-mg0", "up")
        # host 0 (the root namespace): its VIP bridge and uplink
        ip("link", "add", "ostt-fv", "type", "bridge")
        ip("link", "set", "ostt-fv", "up")
        ip("link", "add", "ostt-u0", "type", "veth", "peer", "name", "u0")
        ip("link", "set", "u0", "netns", "ostt-fb")
        inside("ostt-fb", "ip", "link", "set", "u0", "master", "fab", "up")
        ip("link", "set", "ostt-u0", "master", "ostt-fv", "up")
        for n in range(1, self.count + 1):
            self._host(n)
        self._leg("ostt-cl3", "eth0", "cl", "198.19.212.50/22")
        self._leg("ostt-bk3", "eth0", "bk", f"{BACKEND}/22")
        self.server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                "ostt-bk3",
                PY,
                "-m",
                "ostium.devtools.demo_backends",
                "serve",
                "--name",
                "ostt-bk",
                "--bind",
                BACKEND,
                "--port",
                "8080",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _host(self, n: int) -> None:
        ns = f"ostt-n{n}"
        ip("netns", "add", ns)
        self.namespaces.append(ns)
        inside(ns, "ip", "link", "set", "lo", "up")
        inside(ns, "ip", "link", "add", "ostt-fv", "type", "bridge")
        inside(ns, "ip", "link", "set", "ostt-fv", "up")
        self._leg(ns, "uplink", f"u{n}", None)
        inside(ns, "ip", "link", "set", "uplink", "master", "ostt-fv")
        ip("link", "add", f"ostt-m{n}", "type", "veth", "peer", "name", "mgmt", "netns", ns)
        self.links.append(f"ostt-m{n}")
        ip("link", "set", f"ostt-m{n}", "master", "ostt-mg0", "up")
        inside(ns, "ip", "addr", "add", f"{MGMT}.1{n}/24", "dev", "mgmt")
        inside(ns, "ip", "link", "set", "mgmt", "up")

    # ------------------------------------------------------------------ ostium, agents

    def start_ostium(self) -> Ostium:
        workdir = Path(tempfile.mkdtemp(prefix="ostt-", dir="/tmp"))
        ca = LocalCA(workdir / "state" / "pki")  # ostium's own CA, made a little early
        api_cert, api_key = workdir / "api.pem", workdir / "api.key"
        ca.issue_server_cert(api_cert, api_key, ip_addresses=[f"{MGMT}.1"])
        o = Ostium(
            [VIP],
            name_prefix="ostt",
            workdir=workdir,
            bind_host=f"{MGMT}.1",
            verify=str(ca.cert_path),
            sections={
                "api_settings": [
                    "auth_strategy = noauth",  # on a non-loopback address, said so
                    "allow_noauth_on_public_bind = true",
                    f"tls_cert_file = {api_cert}",
                    f"tls_key_file = {api_key}",
                ],
                "health_manager": [
                    f"bind_ip = {MGMT}.1",
                    "heartbeat_interval = 0.5",
                    "heartbeat_timeout = 3",
                    "health_check_interval = 0.5",
                ],
            },
        )
        # uvicorn's graceful stop waits for an idle keep-alive TLS connection: keep none.
        o.api.http.headers["Connection"] = "close"
        self.ostium = o
        o.start("serve", wait=120)  # generous: a loaded 2-core machine
        return o

    def join(self, n: int) -> subprocess.Popen[bytes]:
        """Host n joins: `ostium host add` gives a token, its agent joins with it."""
        o = self.ostium
        assert o is not None
        added = sh(
            PY, "-m", "ostium", "host", "add", f"host{n}",
            "--state-dir", str(o.state_dir), "--config-file", str(o.config),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        token = added.stdout.splitlines()[1].strip()
        state = o.workdir / f"host{n}"
        log = (o.workdir / f"host{n}.log").open("ab")
        try:
            agent = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    f"ostt-n{n}",
                    PY,
                    "-m",
                    "ostium",
                    "agent",
                    "--join",
                    o.url,
                    "--token",
                    token,
                    "--join-ca",
                    str(o.verify),
                    "--state-dir",
                    str(state),
                    "--bind",
                    f"{MGMT}.1{n}:9443",
                    "--name-prefix",
                    f"ostt{n}",
                    "--respawn-interval",
                    "0.5",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        self.agents[n] = agent

        def joined() -> bool:
            assert agent.poll() is None, (o.workdir / f"host{n}.log").read_text()
            rows = o.api.http.get("/v2/ostium/hosts").json()["hosts"]
            return any(h["name"] == f"host{n}" and h["state"] == "ACTIVE" for h in rows)

        wait_for(joined, 90, 0.2, f"host{n} joined")
        return agent

    def kill(self, n: int) -> None:
        """Host n dies: its agent killed, its amphorae and its namespace gone."""
        agent = self.agents.pop(n, None)
        if agent is not None:
            agent.send_signal(signal.SIGKILL)
            agent.wait()
        # Its amphorae's namespaces were made under `ip netns exec` (a mount namespace of
        # their own, invisible here): their processes are found by the host's state dir.
        if self.ostium is not None:
            for pid, _ in processes(f"{self.ostium.workdir}/host{n}/"):
                sh("kill", "-9", str(pid))
        for line in sh("ip", "netns", "list").stdout.splitlines():
            ns = line.split()[0] if line else ""
            # host n's amphorae are `ostt<n><12 hex>`; host 0's `ostt<12 hex>` may start
            # with the digit n too, and must live on
            if re.fullmatch(rf"ostt{n}[0-9a-f]{{12}}", ns) or ns == f"ostt-n{n}":
                for pid in sh("ip", "netns", "pids", ns).stdout.split():
                    sh("kill", "-9", pid)
                sh("ip", "netns", "del", ns)

    def fetch(self, vip: str) -> str:
        proc = sh("ip", "netns", "exec", "ostt-cl3", "curl", "-s", "-m", "2", f"http://{vip}/")
        return proc.stdout.strip() if proc.returncode == 0 else ""

    # ------------------------------------------------------------------ teardown

    def destroy(self) -> list[str]:
        """Remove everything the fabric made, whatever failed before (each step on its
        own); what could not be removed cleanly is returned."""
        left: list[str] = []
        o = self.ostium
        if o is not None:  # load balancers first, while their hosts still answer
            try:
                for lb in o.api.all_lbs():
                    o.api.delete_lb(lb["id"], timeout=90)
                for host in o.api.http.get("/v2/ostium/hosts").json()["hosts"]:
                    o.api.http.delete(f"/v2/ostium/hosts/{host['id']}")  # forgotten first
            except Exception as exc:
                left.append(f"cascade delete failed: {exc!r}")
        for n in range(1, self.count + 1):
            try:
                self.kill(n)
            except Exception as exc:
                left.append(f"host{n} not killed cleanly: {exc!r}")
        if o is not None:
            try:
                left += o.shutdown()
            except Exception as exc:
                left.append(f"ostium not stopped cleanly: {exc!r}")
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        for ns in self.namespaces:
            for pid in sh("ip", "netns", "pids", ns).stdout.split():
                sh("kill", "-9", pid)
            sh("ip", "netns", "del", ns)
        for link in self.links:
            sh("ip", "link", "del", link)
        if o is not None:
            o.remove_workdir()
        return left


def amphora_host(o: Ostium, lb_id: str) -> str:
    """The address of the agent holding the load balancer's amphora ("" while a
    failover has two of them)."""
    amps = [a for a in o.api.amphorae(lb_id) if a["status"] != "DELETED"]
    return str(amps[0]["lb_network_ip"]) if len(amps) == 1 else ""


def http_lb(o: Ostium, name: str, **more: object) -> dict[str, object]:
    body = {
        **more,
        "name": name,
        "listeners": [
            {
                "protocol": "HTTP",
                "protocol_port": 80,
                "default_pool": {
                    "name": "pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": BACKEND, "protocol_port": 8080}],
                },
            }
        ],
    }
    lb = o.api.create_lb(o.api.subnet_id(VIP.subnet_name), wait=False, **body)
    return o.api.wait_active(str(lb["id"]), 120)  # generous: a loaded 2-core machine


def pair_lb(o: Ostium, name: str) -> dict[str, object]:
    """An ACTIVE_STANDBY load balancer like `http_lb` (through a flavor of its own)."""
    profile = o.api.http.post(
        "/v2/lbaas/flavorprofiles",
        json={
            "flavorprofile": {
                "name": f"{name}-fp",
                "provider_name": "amphora",
                "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"}),
            }
        },
    ).json()["flavorprofile"]
    flavor = o.api.http.post(
        "/v2/lbaas/flavors",
        json={"flavor": {"name": f"{name}-fl", "flavor_profile_id": profile["id"]}},
    ).json()["flavor"]
    return http_lb(o, name, flavor_id=flavor["id"])


def hosts_of(o: Ostium, lb_id: str) -> dict[str, str]:
    """Role (MASTER, BACKUP, STANDALONE) -> agent address, of the current amphorae."""
    return {
        str(a["role"]): str(a["lb_network_ip"])
        for a in o.api.amphorae(lb_id)
        if a["status"] != "DELETED" and a["role"]
    }
