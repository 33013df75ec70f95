"""The agent document: desired state of one amphora, and the agent's answers.

Role: the single typed contract between the control plane and the agent. The worker's
spec builder converts database rows into an `AmphoraSpec` (the only conversion); the
agent client sends it; the agent validates it again on arrival and converges to it.

Pure pydantic v2 models, no I/O. Field names follow the Octavia v2 API where a field has
an API twin. Identifiers that reach generated configs (listener, pool, member, policy,
rule, health monitor ids) must be UUIDs; free text (URL paths, L7 values, cookie names)
is carried verbatim and escaped by the agent's renderer, never here.

Do not add control-plane concepts (project ids, names, descriptions, tags, statuses):
the agent has no use for them and names must never reach a haproxy config.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    IPvAnyAddress,
    IPvAnyNetwork,
    SecretStr,
    StringConstraints,
    field_serializer,
    model_validator,
)

from ostium.model import defaults
from ostium.model.enums import (
    AmphoraRole,
    HealthMonitorType,
    HttpMethod,
    L7Action,
    L7CompareType,
    L7RuleType,
    LbAlgorithm,
    ListenerProtocol,
    NetworkKind,
    PersistenceType,
    PoolProtocol,
    VrrpState,
)

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

ResourceId = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
"""A UUID string; the only kind of identifier the agent writes into configs."""

ExternalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
"""A network or subnet id: never rendered into configs, kept to a safe alphabet anyway."""

BridgeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")]
"""A Linux bridge name (at most 15 characters)."""

Port = Annotated[int, Field(ge=1, le=65535)]
TimeoutMs = Annotated[int, Field(ge=0, le=2073600000)]
UserText = Annotated[str, StringConstraints(max_length=2048)]
LogFormat = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9 %{}\[\]+_.:/@=,;()<>|*!?&-]{1,1024}$")
]
"""An haproxy `log-format` (operator configured, ids substituted): no quote, backslash,
`#` or control character, so it cannot end the directive or start a comment."""


class SpecModel(BaseModel):
    """Base of every spec model: unknown fields are refused, so typos fail loudly."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- networks


class NetworkLink(SpecModel):
    """How a network reaches this host: its kind and, for VLAN and macvlan, the parent
    interface (and VLAN id). Defaults describe a bridge ostium owns."""

    kind: NetworkKind = NetworkKind.BRIDGE
    parent: BridgeName | None = None
    """VLAN and macvlan: the host interface the sub-interfaces are made on."""
    vlan_id: int | None = Field(default=None, ge=1, le=4094)

    @model_validator(mode="after")
    def _parent_when_needed(self) -> NetworkLink:
        if self.kind in (NetworkKind.VLAN, NetworkKind.MACVLAN) and self.parent is None:
            raise ValueError(f"a {self.kind} network needs a parent interface")
        if self.kind == NetworkKind.VLAN and self.vlan_id is None:
            raise ValueError("a vlan network needs a vlan_id")
        return self


class AdditionalVip(SpecModel):
    """Another VIP of the load balancer (`additional_vips`): an address on another
    subnet of the VIP network (typically the IPv6 one), on the same port."""

    subnet_id: ExternalId
    address: IPvAnyAddress
    prefixlen: int = Field(ge=0, le=128)
    gateway: IPvAnyAddress | None = None
    """That subnet's router: the default route of its family when the primary VIP is
    of the other family."""
    host_address: IPvAnyAddress | None = None
    """The host's own address on that subnet of an owned bridge (None: none)."""


class AmphoraVip(SpecModel):
    """The VIP plumbing of an amphora: one port (veth or macvlan) on the VIP network."""

    network_id: ExternalId
    subnet_id: ExternalId | None = None
    bridge: BridgeName
    address: IPvAnyAddress
    prefixlen: int = Field(ge=0, le=128)
    gateway: IPvAnyAddress | None = None
    """The subnet's router; the amphora's default route points at it."""
    link: NetworkLink = Field(default_factory=NetworkLink)
    host_address: IPvAnyAddress | None = None
    """The host's own address on an owned bridge (None: the host has none there)."""
    additional_vips: list[AdditionalVip] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _distinct(self) -> AmphoraVip:
        seen = [self.address, *(a.address for a in self.additional_vips)]
        if len(set(seen)) != len(seen):
            raise ValueError("the VIP addresses of an amphora must differ")
        for extra in self.additional_vips:
            if extra.prefixlen > extra.address.max_prefixlen:
                raise ValueError(f"prefixlen {extra.prefixlen} is too long for {extra.address}")
        return self

    def addresses(self) -> list[IPvAnyAddress]:
        """Every VIP: the primary first, then the additional ones in order."""
        return [self.address, *(a.address for a in self.additional_vips)]


class AmphoraNetwork(SpecModel):
    """A member network the amphora joins with its own veth and address."""

    subnet_id: ExternalId
    bridge: BridgeName
    cidr: IPvAnyNetwork
    address: IPvAnyAddress
    """The amphora's own address on that subnet (prefix length taken from `cidr`)."""
    link: NetworkLink = Field(default_factory=NetworkLink)


class AmphoraPlug(SpecModel):
    """Request to create (or ensure) an amphora: namespace, veths, addresses, routes."""

    amphora_id: ResourceId
    loadbalancer_id: ResourceId
    vip: AmphoraVip
    member_networks: list[AmphoraNetwork] = Field(default_factory=list)
    vrrp_ip: IPvAnyAddress | None = None
    """ACTIVE_STANDBY: the amphora's own address on the VIP network, configured on its
    VIP-side interface instead of the VIP (which keepalived adds while MASTER)."""


# --------------------------------------------------------------------------- VRRP


class VrrpPeer(SpecModel):
    """The other amphora of the pair: a unicast VRRP peer and a haproxy peer."""

    amphora_id: ResourceId
    address: IPvAnyAddress
    """Its `vrrp_ip`."""


class VrrpSpec(SpecModel):
    """ACTIVE_STANDBY: keepalived for this amphora and the haproxy peers of its pair.

    The virtual address keepalived moves is the spec's `vip.address`. Both amphorae
    start as BACKUP (`nopreempt`): the first to time out takes the VIP and keeps it; a
    replacement joins as BACKUP and never takes it back. `role` and `priority` only
    decide who wins when both come up at once.
    """

    role: Literal[AmphoraRole.MASTER, AmphoraRole.BACKUP]
    priority: int = Field(ge=1, le=254)
    vrrp_id: int = Field(ge=1, le=255)
    """The virtual router id, the same on both amphorae of a pair."""
    vrrp_ip: IPvAnyAddress
    """This amphora's own address on the VIP network (VRRP source, haproxy peer)."""
    peers: list[VrrpPeer] = Field(min_length=1, max_length=8)
    version: Literal[2, 3] = 3
    advert_interval: float = Field(default=0.1, ge=0.01, le=255)
    """Seconds between adverts; the BACKUP takes over after about 3.65 of them."""
    check_interval: int = Field(default=1, ge=1, le=3600)
    """Seconds between two asks to haproxy's stats socket (keepalived counts seconds)."""
    check_fall: int = Field(default=2, ge=1, le=100)
    check_rise: int = Field(default=2, ge=1, le=100)
    watch_haproxy: bool = True
    """Also demote at once when the haproxy process exits (the agent watches it),
    instead of waiting for the periodic check."""
    garp_refresh: int = Field(default=0, ge=0, le=3600)
    """Seconds between gratuitous ARP refreshes while MASTER (0: only on takeover)."""
    garp_refresh_repeat: int = Field(default=2, ge=1, le=100)
    peer_port: Port = 1025
    """TCP port of the haproxy `peers` section (stick tables shared in the pair)."""

    @model_validator(mode="after")
    def _consistent(self) -> VrrpSpec:
        if self.version == 2 and self.advert_interval != int(self.advert_interval):
            raise ValueError("VRRP version 2 needs a whole number of seconds as advert_interval")
        if self.version == 3 and self.advert_interval > 40.95:
            raise ValueError("VRRP version 3 advert_interval is at most 40.95 seconds")
        for peer in self.peers:
            if peer.address == self.vrrp_ip:
                raise ValueError(f"peer {peer.amphora_id} has this amphora's vrrp_ip")
        return self


# --------------------------------------------------------------------------- TLS

FileId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
"""The SHA-1 hex of a TLS file's content (certificate PEM, CA, CRL): its name on disk."""
CipherString = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9\-+!:@=_.]+$", max_length=2048)
]
TlsVersion = Literal["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
AlpnProtocol = Literal["h2", "http/1.1", "http/1.0"]
REVEAL = {"reveal": True}
"""Serialisation context that writes TLS material in clear (only the agent client, to
send a spec over mTLS); any other dump writes `**********` in its place."""


class TlsFile(SpecModel):
    """One file of TLS material for haproxy: a certificate with its key (and chain), a
    CA bundle or a CRL, in PEM. `pem` is None in a spec read back from the agent's disk."""

    id: FileId
    pem: SecretStr | None = None

    @field_serializer("pem")
    def _pem(self, pem: SecretStr | None, info: FieldSerializationInfo) -> str | None:
        if pem is None:
            return None
        context = info.context or {}
        return pem.get_secret_value() if context.get("reveal") else str(pem)


class ListenerTlsSpec(SpecModel):
    """TLS termination of a listener (TERMINATED_HTTPS, or PROMETHEUS with a certificate)."""

    certificates: list[FileId] = Field(min_length=1)
    """Default certificate first, then the SNI ones (haproxy picks by SNI name)."""
    client_authentication: Literal["NONE", "OPTIONAL", "MANDATORY"] = "NONE"
    client_ca: FileId | None = None
    client_crl: FileId | None = None
    ciphers: CipherString | None = None
    versions: list[TlsVersion] | None = None
    alpn: list[AlpnProtocol] | None = None
    hsts_max_age: int | None = Field(default=None, ge=0)
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False


class PoolTlsSpec(SpecModel):
    """Re-encryption to members (pool `tls_enabled`)."""

    certificate: FileId | None = None
    """The client certificate ostium presents to members."""
    ca: FileId | None = None
    crl: FileId | None = None
    ciphers: CipherString | None = None
    versions: list[TlsVersion] | None = None
    alpn: list[AlpnProtocol] | None = None


# --------------------------------------------------------------------------- L7


class L7RuleSpec(SpecModel):
    id: ResourceId
    type: L7RuleType
    compare_type: L7CompareType
    key: UserText | None = None
    value: UserText
    invert: bool = False
    admin_state_up: bool = True


class L7PolicySpec(SpecModel):
    id: ResourceId
    action: L7Action
    position: int = Field(ge=1)
    redirect_url: UserText | None = None
    redirect_prefix: UserText | None = None
    redirect_pool_id: ResourceId | None = None
    redirect_http_code: int | None = None
    admin_state_up: bool = True
    rules: list[L7RuleSpec] = Field(default_factory=list)


# --------------------------------------------------------------------------- listeners


class ListenerSpec(SpecModel):
    id: ResourceId
    protocol: ListenerProtocol
    protocol_port: Port
    connection_limit: int = Field(default=defaults.CONNECTION_LIMIT, ge=-1)
    timeout_client_data: TimeoutMs = defaults.TIMEOUT_CLIENT_DATA
    timeout_member_connect: TimeoutMs = defaults.TIMEOUT_MEMBER_CONNECT
    timeout_member_data: TimeoutMs = defaults.TIMEOUT_MEMBER_DATA
    timeout_tcp_inspect: TimeoutMs = defaults.TIMEOUT_TCP_INSPECT
    insert_headers: dict[str, str] = Field(default_factory=dict)
    """API semantics: keys like `X-Forwarded-For`, values the strings "true"/"false"."""
    allowed_cidrs: list[IPvAnyNetwork] = Field(default_factory=list)
    admin_state_up: bool = True
    default_pool_id: ResourceId | None = None
    l7policies: list[L7PolicySpec] = Field(default_factory=list)
    """Any order on the wire; the agent applies them by `position`."""
    log_format: LogFormat | None = None
    """Access log line of this listener (Octavia's `user_log_format`, ids substituted,
    HTTP fields `-` for TCP); None: `connection_logging` is off, no log."""
    tls: ListenerTlsSpec | None = None


# --------------------------------------------------------------------------- pools


class SessionPersistenceSpec(SpecModel):
    type: PersistenceType
    cookie_name: UserText | None = None
    persistence_timeout: int | None = Field(default=None, ge=0, le=31_536_000)
    """UDP/SCTP SOURCE_IP only: seconds a client keeps its member after its last packet."""
    persistence_granularity: IPvAnyAddress | None = None
    """UDP/SCTP SOURCE_IP only: the mask applied to the client address (a netmask)."""


class HealthMonitorSpec(SpecModel):
    id: ResourceId
    type: HealthMonitorType
    delay: int = Field(ge=0)
    """Seconds between checks."""
    timeout: int = Field(ge=0)
    """Seconds before one check gives up."""
    max_retries: int = Field(ge=1, le=10)
    max_retries_down: int = Field(default=defaults.HM_MAX_RETRIES_DOWN, ge=1, le=10)
    http_method: HttpMethod | None = None
    url_path: UserText | None = None
    expected_codes: UserText | None = None
    http_version: float | None = None
    domain_name: UserText | None = None
    admin_state_up: bool = True


class MemberSpec(SpecModel):
    id: ResourceId
    address: IPvAnyAddress
    protocol_port: Port
    weight: int = Field(default=defaults.MEMBER_WEIGHT, ge=0, le=256)
    backup: bool = False
    admin_state_up: bool = True
    monitor_address: IPvAnyAddress | None = None
    monitor_port: Port | None = None
    subnet_id: ExternalId | None = None


class PoolSpec(SpecModel):
    id: ResourceId
    protocol: PoolProtocol
    lb_algorithm: LbAlgorithm
    session_persistence: SessionPersistenceSpec | None = None
    admin_state_up: bool = True
    healthmonitor: HealthMonitorSpec | None = None
    members: list[MemberSpec] = Field(default_factory=list)
    tls: PoolTlsSpec | None = None
    """Set when the pool re-encrypts to its members (`tls_enabled`)."""


# --------------------------------------------------------------------------- amphora


class AmphoraSpec(SpecModel):
    """Everything one amphora must run. `generation` only ever grows."""

    amphora_id: ResourceId
    loadbalancer_id: ResourceId
    generation: int = Field(ge=0)
    admin_state_up: bool = True
    vip: AmphoraVip
    member_networks: list[AmphoraNetwork] = Field(default_factory=list)
    listeners: list[ListenerSpec] = Field(default_factory=list)
    pools: list[PoolSpec] = Field(default_factory=list)
    vrrp: VrrpSpec | None = None
    """ACTIVE_STANDBY only; None for a SINGLE amphora (the VIP is configured statically)."""
    tls_files: list[TlsFile] = Field(default_factory=list)
    """The TLS material the listeners and pools name by id."""

    @model_validator(mode="after")
    def _vrrp_family(self) -> AmphoraSpec:
        if self.vrrp is not None and self.vrrp.vrrp_ip.version != self.vip.address.version:
            raise ValueError("vrrp.vrrp_ip and vip.address must be of the same IP family")
        return self

    def plug(self) -> AmphoraPlug:
        """The plumbing part of this spec, as a create request."""
        return AmphoraPlug(
            amphora_id=self.amphora_id,
            loadbalancer_id=self.loadbalancer_id,
            vip=self.vip,
            member_networks=list(self.member_networks),
            vrrp_ip=self.vrrp.vrrp_ip if self.vrrp is not None else None,
        )


# --------------------------------------------------------------------------- answers


class AmphoraState(SpecModel):
    """What the agent reports about one amphora."""

    amphora_id: ResourceId
    loadbalancer_id: ResourceId | None = None
    namespace: str
    applied_generation: int | None = None
    """None until a spec has been applied."""
    haproxy_running: bool = False
    haproxy_pid: int | None = None
    respawns: int = 0
    vrrp_state: VrrpState | None = None
    """ACTIVE_STANDBY: what keepalived reports (None for a SINGLE amphora)."""
    plumbing_repairs: int = 0
    """How many times the agent rebuilt lost plumbing (bridge, veth, VLAN link)."""
    plumbing_fault: str | None = None
    """The last plumbing fault found and what became of it (`...; repaired` or
    `...; repair failed: ...`); None if there never was one."""


class AmphoraList(SpecModel):
    amphorae: list[AmphoraState] = Field(default_factory=list)


class AgentErrorBody(SpecModel):
    """The JSON body of every agent error response."""

    error: str
    """A stable machine code, e.g. `stale_generation`, `invalid_config`, `not_found`."""
    message: str
    details: list[str] | dict[str, object] | None = None
