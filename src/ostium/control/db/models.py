"""SQLAlchemy 2 ORM rows: the database is the truth and the queue (DESIGN decision 1).

Only control-plane code imports this. Rows are one of the three shapes of a resource
(row, API schema, agent spec); conversions live in services (schema <-> row) and in
the worker's spec builder (row -> spec).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from ostium.model import defaults
from ostium.model.enums import (
    AmphoraRole,
    AmphoraStatus,
    HostState,
    OperatingStatus,
    ProvisioningStatus,
    Topology,
    VrrpState,
)
from ostium.model.heartbeat import HaproxyState

E = TypeVar("E", bound=StrEnum)


def utcnow() -> dt.datetime:
    """Naive UTC, the way the API renders timestamps (no zone suffix)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class EnumText(TypeDecorator[E], Generic[E]):
    """A status column: text in the database (no migration, any dialect), the enum in
    Python. A value outside the enum fails on write, so no stray spelling is stored."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Resource:
    """Columns shared by the seven lbaas objects (load balancer, listener, pool, member,
    health monitor, L7 policy, L7 rule)."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    provisioning_status: Mapped[ProvisioningStatus] = mapped_column(EnumText(ProvisioningStatus))
    operating_status: Mapped[OperatingStatus] = mapped_column(EnumText(OperatingStatus))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Like Octavia's timestamp mixin: null until the row is first changed, then the time
    # of every UPDATE (ORM or Core) that does not set it itself; clients parse it as a
    # timestamp once the object has left PENDING_CREATE. Raw SQL writers (the health
    # manager's PostgreSQL bulk update) set it explicitly.
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, onupdate=utcnow)


class LoadBalancer(Resource, Base):
    __tablename__ = "load_balancer"

    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    vip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vip_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_subnet_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_network_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_qos_policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    vip_sg_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    additional_vips: Mapped[list[Any]] = mapped_column(JSON, default=list)
    vip_vnic_type: Mapped[str] = mapped_column(String(16), default="normal")
    provider: Mapped[str] = mapped_column(String(64))
    flavor_id: Mapped[str | None] = mapped_column(
        ForeignKey("flavor.id", ondelete="RESTRICT"), nullable=True
    )
    availability_zone: Mapped[str | None] = mapped_column(
        ForeignKey("availability_zone.name", ondelete="RESTRICT"), nullable=True
    )
    topology: Mapped[Topology] = mapped_column(EnumText(Topology), default=Topology.SINGLE)
    # Reconciliation: the API bumps `generation`; the worker records what it applied.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failover_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer", order_by="Listener.created_at"
    )
    pools: Mapped[list[Pool]] = relationship(
        back_populates="load_balancer", order_by="Pool.created_at"
    )
    amphorae: Mapped[list[Amphora]] = relationship(back_populates="load_balancer")

    __table_args__ = (
        Index("ix_lb_work", "provisioning_status", "generation", "applied_generation"),
        Index("ix_lb_created", "created_at", "id"),
    )


class Listener(Resource, Base):
    __tablename__ = "listener"

    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int] = mapped_column(Integer)
    port_family: Mapped[str] = mapped_column(String(8))
    connection_limit: Mapped[int] = mapped_column(Integer, default=defaults.CONNECTION_LIMIT)
    default_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("pool.id", ondelete="SET NULL"), nullable=True
    )
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sni_container_refs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    insert_headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timeout_client_data: Mapped[int] = mapped_column(Integer, default=defaults.TIMEOUT_CLIENT_DATA)
    timeout_member_connect: Mapped[int] = mapped_column(
        Integer, default=defaults.TIMEOUT_MEMBER_CONNECT
    )
    timeout_member_data: Mapped[int] = mapped_column(Integer, default=defaults.TIMEOUT_MEMBER_DATA)
    timeout_tcp_inspect: Mapped[int] = mapped_column(Integer, default=defaults.TIMEOUT_TCP_INSPECT)
    client_authentication: Mapped[str] = mapped_column(String(16), default="NONE")
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    allowed_cidrs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    tls_versions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    alpn_protocols: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener",
        order_by="L7Policy.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        UniqueConstraint(
            "load_balancer_id", "port_family", "protocol_port", name="uq_listener_port"
        ),
    )


class Pool(Resource, Base):
    __tablename__ = "pool"

    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    crl_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    tls_versions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    alpn_protocols: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    members: Mapped[list[Member]] = relationship(
        back_populates="pool",
        order_by="Member.created_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    health_monitor: Mapped[HealthMonitor | None] = relationship(
        back_populates="pool",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Member(Resource, Base):
    __tablename__ = "member"

    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=defaults.MEMBER_WEIGHT)
    backup: Mapped[bool] = mapped_column(Boolean, default=defaults.MEMBER_BACKUP)
    subnet_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    monitor_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    monitor_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vnic_type: Mapped[str] = mapped_column(String(16), default="normal")

    pool: Mapped[Pool] = relationship(back_populates="members")

    __table_args__ = (
        UniqueConstraint("pool_id", "address", "protocol_port", name="uq_member_address"),
    )


class HealthMonitor(Resource, Base):
    __tablename__ = "health_monitor"

    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    type: Mapped[str] = mapped_column(String(16))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    max_retries_down: Mapped[int] = mapped_column(Integer, default=defaults.HM_MAX_RETRIES_DOWN)
    http_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    url_path: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    expected_codes: Mapped[str | None] = mapped_column(String(64), nullable=True)
    http_version: Mapped[float | None] = mapped_column(Float, nullable=True)
    domain_name: Mapped[str | None] = mapped_column(String(255), nullable=True)

    pool: Mapped[Pool] = relationship(back_populates="health_monitor")


class L7Policy(Resource, Base):
    __tablename__ = "l7policy"

    listener_id: Mapped[str] = mapped_column(
        ForeignKey("listener.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(32))
    redirect_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    redirect_prefix: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    redirect_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("pool.id", ondelete="SET NULL"), nullable=True
    )
    redirect_http_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    position: Mapped[int] = mapped_column(Integer)

    listener: Mapped[Listener] = relationship(back_populates="l7policies")
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="policy",
        order_by="L7Rule.created_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class L7Rule(Resource, Base):
    __tablename__ = "l7rule"

    l7policy_id: Mapped[str] = mapped_column(
        ForeignKey("l7policy.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    compare_type: Mapped[str] = mapped_column(String(32))
    key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)

    policy: Mapped[L7Policy] = relationship(back_populates="rules")


class Tag(Base):
    """Tags of any lbaas object; a table (not a JSON column) so tag filters are SQL."""

    __tablename__ = "tag"

    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)

    __table_args__ = (Index("ix_tag_tag", "tag"),)


class Quota(Base):
    __tablename__ = "quota"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer, nullable=True)
    listener: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pool: Mapped[int | None] = mapped_column(Integer, nullable=True)
    health_monitor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    member: Mapped[int | None] = mapped_column(Integer, nullable=True)
    l7policy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    l7rule: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A row exists for every project that ever created something (the quota lock row);
    # `is_set` says whether an operator stored limits (GET /quotas lists only those).
    is_set: Mapped[bool] = mapped_column(Boolean, default=False)


class FlavorProfile(Base):
    __tablename__ = "flavor_profile"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(String(4096))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Flavor(Base):
    __tablename__ = "flavor"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(
        ForeignKey("flavor_profile.id", ondelete="RESTRICT")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AvailabilityZoneProfile(Base):
    __tablename__ = "availability_zone_profile"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(String(4096))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AvailabilityZone(Base):
    __tablename__ = "availability_zone"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        ForeignKey("availability_zone_profile.id", ondelete="RESTRICT")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Amphora(Base):
    __tablename__ = "amphora"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    load_balancer_id: Mapped[str | None] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="SET NULL"), nullable=True, index=True
    )
    compute_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lb_network_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vrrp_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ha_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ha_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    cert_expiration: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    role: Mapped[AmphoraRole | None] = mapped_column(EnumText(AmphoraRole), nullable=True)
    status: Mapped[AmphoraStatus] = mapped_column(EnumText(AmphoraStatus, 32))
    vrrp_interface: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vrrp_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cached_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    compute_flavor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    last_heartbeat: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Health: the newest heartbeat sequence accepted (replays are older) and what the
    # agent last said about the data plane (HaproxyState) and its applied generation.
    heartbeat_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    haproxy_state: Mapped[HaproxyState | None] = mapped_column(
        EnumText(HaproxyState), nullable=True
    )
    reported_generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # ACTIVE_STANDBY: keepalived's state in the last heartbeat (VrrpState).
    vrrp_state: Mapped[VrrpState | None] = mapped_column(EnumText(VrrpState), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates="amphorae")

    __table_args__ = (Index("ix_amphora_health", "status", "last_heartbeat"),)


class ListenerStatistics(Base):
    """Cumulative counters per (listener, amphora); summed for LB and listener stats.

    `last_*` are the raw values of the amphora's last heartbeat folded in (`heartbeat_seq`):
    the next one adds only what grew since (see `control/health/counters`). Rows of a
    retired amphora stay, so totals survive failovers.
    """

    __tablename__ = "listener_statistics"

    listener_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    load_balancer_id: Mapped[str] = mapped_column(String(36), index=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    last_bytes_in: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_bytes_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_total_connections: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_request_errors: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The heartbeat `seq` whose counters were folded in last (older ones are skipped).
    heartbeat_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class IpAllocation(Base):
    """IPAM: one row per address in use on a local subnet (primary key = no double use)."""

    __tablename__ = "ip_allocation"

    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36), index=True)
    purpose: Mapped[str] = mapped_column(String(16), default="vip")


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    project_id: Mapped[str] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


# ---- secret store (Barbican v1 subset, control/secrets) ----------------------------


class StoredSecret(Base):
    """A key-manager secret; `payload` is a Fernet token of the payload bytes (never the
    bytes themselves). Scoped to `project_id`."""

    __tablename__ = "secret"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    creator_id: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    secret_type: Mapped[str] = mapped_column(String(16), default="opaque")
    algorithm: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(255), nullable=True)
    bit_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expiration: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class SecretContainer(Base):
    """A key-manager container: named references to secrets of the same project."""

    __tablename__ = "secret_container"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    creator_id: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    type: Mapped[str] = mapped_column(String(16))
    secret_refs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[{"name": ..., "secret_id": ...}] in the order given."""
    consumers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[{"name": ..., "URL": ...}]"""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Host(Base):
    """One host running an agent (issue 13): enrolled with a one-time token, then
    placed on while ACTIVE. `token_hash` is the SHA-256 of the enrollment token (the
    token itself is printed once and stored nowhere); cleared once the host joined."""

    __tablename__ = "host"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    agent_url: Mapped[str | None] = mapped_column(String(255), nullable=True)
    networks: Mapped[str] = mapped_column(String(1024), default="")
    """Names of the declared networks the host has, comma-separated."""
    capacity: Mapped[int] = mapped_column(Integer, default=1000)
    zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    state: Mapped[HostState] = mapped_column(EnumText(HostState, 16))
    token_hash: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
