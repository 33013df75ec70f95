"""Typed settings groups, read once in main() from an INI file plus command-line flags.

Section and option names follow Octavia's where the meaning is the same
(`[api_settings]`, `[database]`, `[controller_worker]`, `[health_manager]`,
`[house_keeping]`, `[haproxy_amphora]`, `[quotas]`). Local networks are declared as `[network:NAME]`
sections. Nothing here is read at import time; callers build a `Settings` and pass it down.
"""

from __future__ import annotations

import configparser
import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ostium.control.certificate_settings import CertificateSettings, check_tls
from ostium.control.networks_config import DEFAULT_NETWORK as DEFAULT_NETWORK
from ostium.control.networks_config import DEFAULT_NETWORK_V6 as DEFAULT_NETWORK_V6
from ostium.control.networks_config import DEMO_NETWORK as DEMO_NETWORK
from ostium.control.networks_config import NETWORK_NAMESPACE as NETWORK_NAMESPACE
from ostium.control.networks_config import NetworkSettings as NetworkSettings
from ostium.control.networks_config import parse_networks
from ostium.control.settings_agent import AmphoraAgentSettings
from ostium.control.settings_authtoken import KeystoneAuthtokenSettings, load_authtoken
from ostium.control.settings_keystone import IdentitySettings, PolicySettings
from ostium.model.access_log import DEFAULT_USER_LOG_FORMAT
from ostium.model.defaults import UDP_CONNECT_MIN_INTERVAL_HEALTH_MONITOR
from ostium.model.enums import Topology

T = TypeVar("T")


@dataclass(frozen=True)
class ApiSettings:
    bind_host: str = "127.0.0.1"
    bind_port: int = 9876
    auth_strategy: str = "noauth"  # noauth | token | keystone (non-loopback bind: keystone)
    allow_noauth_on_public_bind: bool = False
    default_project_id: str = "admin"
    pagination_max_limit: int = 1000
    max_request_body_size: int = 114688
    default_provider_driver: str = "amphora"
    api_base_uri: str = ""
    enforce_quotas_in_noauth: bool = False
    api_workers: int = 1
    """API processes on the one port (0: one per CPU, at most 4), on PostgreSQL and on
    SQLite alike (WAL: readers never wait, writers queue on the file lock). Each process
    has its own /metrics counters, so more than one is opt-in."""
    response_cache_mb: int = 64
    """Memory of each API process for answers to GET requests kept while the database
    has not changed (`api/read_cache`); 0 turns it off."""
    udp_connect_min_interval_health_monitor: int = UDP_CONNECT_MIN_INTERVAL_HEALTH_MONITOR
    tls_cert_file: str = ""
    """Serve the API over HTTPS with this certificate (PEM) and `tls_key_file`: needed
    for hosts joining from other machines (`ostium agent --join https://...`)."""
    tls_key_file: str = ""


@dataclass(frozen=True)
class DatabaseSettings:
    connection: str = ""


@dataclass(frozen=True)
class WorkerSettings:
    compute_driver: str = "auto"
    loadbalancer_topology: str = Topology.SINGLE
    lease_seconds: float = 30.0
    poll_interval: float = 0.2
    workers: int = 4
    max_retries: int = 5
    retry_backoff: float = 0.5
    anti_affinity: str = "preferred"
    """ACTIVE_STANDBY placement: `preferred` puts the two amphorae on different hosts
    when more than one is registered, else together; `required` sends the load
    balancer to ERROR rather than co-locating them."""
    local_zone: str = ""
    """The compute zone of hosts without a `host` row (the local agent of `ostium
    serve`, `remote_agents`): empty, none (they take only load balancers whose
    availability zone names no `compute_zone`); `*`, every zone; else that zone."""


@dataclass(frozen=True)
class KeepalivedSettings:
    """`[keepalived_vrrp]`: VRRP of ACTIVE_STANDBY pairs (Octavia's names; our defaults
    favour a sub-second takeover: Octavia's are advert 1 s, VRRPv2, check every 5 s)."""

    vrrp_advert_int: float = 0.1
    """Seconds between adverts (VRRPv3: down to 0.01); the BACKUP takes over after
    3.65 of them without one (0.1: ~0.37 s, measured with bench/failover.py)."""
    vrrp_version: int = 3
    vrrp_check_interval: int = 1
    """Seconds between two asks to haproxy's stats socket (whole seconds)."""
    vrrp_fail_count: int = 2
    vrrp_success_count: int = 2
    vrrp_garp_refresh_interval: int = 5
    vrrp_garp_refresh_count: int = 2
    vrrp_watch_haproxy: bool = True
    """Demote at once when haproxy exits (the agent watches the process) instead of
    waiting for `vrrp_fail_count` failed checks."""
    haproxy_peer_port: int = 1025


@dataclass(frozen=True)
class QuotaSettings:
    default_load_balancer_quota: int = -1
    default_listener_quota: int = -1
    default_member_quota: int = -1
    default_pool_quota: int = -1
    default_health_monitor_quota: int = -1
    default_l7policy_quota: int = -1
    default_l7rule_quota: int = -1


@dataclass(frozen=True)
class HealthSettings:
    enabled: bool = True
    """Run the health manager inside `ostium serve` (`ostium health` runs it alone)."""
    bind_ip: str = "127.0.0.1"
    bind_port: int = 5555
    controller_ip_port_list: str = ""
    """Where agents send heartbeats (`ip:port, ...`); empty: `bind_ip:bind_port`."""
    heartbeat_interval: float = 2.0
    heartbeat_timeout: float = 6.0
    heartbeat_key: str = ""
    """Shared HMAC key; empty: a random key kept in `<state_dir>/heartbeat.key`."""
    health_check_interval: float = 1.0
    """Seconds between two scans for silent amphorae."""
    failover_threshold: int = 0
    """More stale amphorae than this at once stops all failovers (0: no limit)."""
    failover_host_threshold: int = 0
    """More hosts with stale amphorae than this at once stops all failovers (0: no
    limit): one dead host is failed over, a health manager cut off from all is not."""
    sock_rlimit: int = 4 * 1024 * 1024
    """SO_RCVBUF of the heartbeat socket (0: the system default)."""
    stats_update_interval: float = 5.0
    """Seconds between two writes of listener statistics (the newest counters held in
    memory meanwhile; 0: with every batch of heartbeats). Statuses are written at once."""

    def targets(self) -> str:
        return self.controller_ip_port_list or f"{_bracket(self.bind_ip)}:{self.bind_port}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class HousekeepingSettings:
    enabled: bool = True
    """Run housekeeping inside `ostium serve` (`ostium housekeeping` runs it alone)."""
    cleanup_interval: float = 30.0
    amphora_expiry_age: float = 604800.0
    load_balancer_expiry_age: float = 604800.0
    cert_interval: float = 3600.0
    cert_expiry_buffer: float = 1209600.0
    """Rotate agent certificates expiring within this many seconds."""
    orphan_interval: float = 60.0
    """Seconds between two sweeps for amphorae the database does not know."""


@dataclass(frozen=True)
class HaproxySettings:
    respawn_count: int = 2
    respawn_interval: float = 2.0
    haproxy_cmd: str = "haproxy"
    # The local agent started by `ostium serve` (mTLS REST).
    bind_host: str = "127.0.0.1"
    bind_port: int = 9443
    name_prefix: str = "amp-"
    cert_validity_days: int = 365
    remote_agents: str = ""
    connection_logging: bool = True
    """Access logs on (Octavia's option): `False` renders `no log` in every listener."""
    user_log_format: str = DEFAULT_USER_LOG_FORMAT
    """More hosts: URLs (`https://ip:port, ...`) of agents started elsewhere with
    certificates from this ostium's CA (`<state_dir>/pki`); with the local agent they
    are the hosts ACTIVE_STANDBY pairs are spread over."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=lambda: Path("var"))
    api: ApiSettings = field(default_factory=ApiSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    housekeeping: HousekeepingSettings = field(default_factory=HousekeepingSettings)
    haproxy: HaproxySettings = field(default_factory=HaproxySettings)
    keepalived: KeepalivedSettings = field(default_factory=KeepalivedSettings)
    certificates: CertificateSettings = field(default_factory=CertificateSettings)
    networks: tuple[NetworkSettings, ...] = ()
    reserved_ips: tuple[str, ...] = ("169.254.169.254",)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    keystone_authtoken: KeystoneAuthtokenSettings = field(default_factory=KeystoneAuthtokenSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    amphora_agent: AmphoraAgentSettings = field(default_factory=AmphoraAgentSettings)

    @property
    def database_url(self) -> str:
        if self.database.connection:
            return self.database.connection
        return f"sqlite:///{(self.state_dir / 'ostium.sqlite').resolve()}"

    def network_by_subnet(self, subnet_id: str) -> NetworkSettings | None:
        return next((n for n in self.networks if n.subnet_id == subnet_id), None)

    def network_by_network(self, network_id: str) -> NetworkSettings | None:
        """The network's first subnet (the one its section declares)."""
        return next((n for n in self.networks if n.network_id == network_id), None)

    def subnets_of(self, network_id: str) -> list[NetworkSettings]:
        """Every subnet of a network, first declared first."""
        return [n for n in self.networks if n.network_id == network_id]


def _coerce(value: str, like: object) -> object:
    if isinstance(like, bool):
        low = value.strip().lower()
        if low in {"1", "true", "yes", "on", "t", "y"}:
            return True
        if low in {"0", "false", "no", "off", "f", "n"}:
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value


def _group(
    cls: type[T],
    parser: configparser.ConfigParser,
    section: str,
    aliases: dict[str, str] | None = None,
) -> T:
    defaults = cls()
    kwargs: dict[str, object] = {}
    if parser.has_section(section):
        for key, raw in parser.items(section):
            name = (aliases or {}).get(key, key)
            if not hasattr(defaults, name):
                raise ValueError(f"[{section}] has no option {key!r}")
            kwargs[name] = _coerce(raw, getattr(defaults, name))
    return cls(**kwargs)


def load_settings(
    config_file: str | None = None,
    *,
    state_dir: str | None = None,
    database_url: str | None = None,
    bind: str | None = None,
    compute_driver: str | None = None,
    auth_strategy: str | None = None,
) -> Settings:
    parser = configparser.ConfigParser(interpolation=None)
    if config_file and not parser.read(config_file):
        raise ValueError(f"cannot read config file {config_file!r}")
    api = _group(ApiSettings, parser, "api_settings")
    db = _group(DatabaseSettings, parser, "database")
    worker = _group(WorkerSettings, parser, "controller_worker")
    quotas = _group(QuotaSettings, parser, "quotas")
    health = _group(HealthSettings, parser, "health_manager")
    housekeeping = _group(HousekeepingSettings, parser, "house_keeping")
    haproxy = _group(HaproxySettings, parser, "haproxy_amphora")
    keepalived = _group(KeepalivedSettings, parser, "keepalived_vrrp")
    # Octavia keeps the TLS defaults in [api_settings]; ostium reads them from
    # [certificates] (an [api_settings] option of the same name is not read).
    certificates = _group(CertificateSettings, parser, "certificates")
    check_tls(certificates)
    _check_vrrp(worker, keepalived)
    sd = (
        state_dir
        or (parser.get("DEFAULT", "state_dir", fallback=None))
        or os.environ.get("OSTIUM_STATE_DIR")
        or "var"
    )
    if bind:
        host, _, port = bind.rpartition(":")
        api = _replace(api, bind_host=host or api.bind_host, bind_port=int(port))
    if auth_strategy:
        api = _replace(api, auth_strategy=auth_strategy)
    elif not parser.has_option("api_settings", "auth_strategy") and not _loopback(api.bind_host):
        api = _replace(api, auth_strategy="keystone")  # noauth only ever on loopback
    if api.auth_strategy not in {"noauth", "token", "keystone"}:
        raise ValueError(
            f"[api_settings] auth_strategy: {api.auth_strategy!r} is not noauth|token|keystone"
        )
    if database_url:
        db = DatabaseSettings(connection=database_url)
    if compute_driver:
        worker = _replace(worker, compute_driver=compute_driver)
    reserved = tuple(
        x.strip()
        for x in parser.get("networking", "reserved_ips", fallback="169.254.169.254").split(",")
        if x.strip()
    )
    return Settings(
        state_dir=Path(sd).resolve(),
        api=api,
        database=db,
        worker=worker,
        quotas=quotas,
        health=health,
        housekeeping=housekeeping,
        haproxy=haproxy,
        keepalived=keepalived,
        certificates=certificates,
        networks=parse_networks(parser),
        reserved_ips=reserved,
        identity=_group(IdentitySettings, parser, "identity"),
        keystone_authtoken=load_authtoken(parser),
        policy=_group(PolicySettings, parser, "oslo_policy"),
        amphora_agent=_group(AmphoraAgentSettings, parser, "amphora_agent"),
    )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _check_vrrp(worker: WorkerSettings, k: KeepalivedSettings) -> None:
    if worker.loadbalancer_topology not in set(Topology):
        raise ValueError(
            f"[controller_worker] loadbalancer_topology: "
            f"{worker.loadbalancer_topology!r} is not SINGLE|ACTIVE_STANDBY"
        )
    if worker.anti_affinity not in {"preferred", "required"}:
        raise ValueError(
            f"[controller_worker] anti_affinity: {worker.anti_affinity!r} is not preferred|required"
        )
    if k.vrrp_version not in (2, 3):
        raise ValueError(f"[keepalived_vrrp] vrrp_version: {k.vrrp_version} is not 2|3")
    low = 1.0 if k.vrrp_version == 2 else 0.01
    high = 255.0 if k.vrrp_version == 2 else 40.95
    if not low <= k.vrrp_advert_int <= high or (
        k.vrrp_version == 2 and k.vrrp_advert_int != int(k.vrrp_advert_int)
    ):
        raise ValueError(
            f"[keepalived_vrrp] vrrp_advert_int: {k.vrrp_advert_int} is not "
            f"{'a whole number of seconds' if k.vrrp_version == 2 else 'a value'} "
            f"in [{low}, {high}] for VRRP version {k.vrrp_version}"
        )


def _replace(obj: T, **changes: object) -> T:
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
