"""Request bodies for load balancers, listeners, pools, members, monitors and L7.

Create models list what a POST accepts, update models what a PUT accepts (every field
optional; which fields were sent is read from `model_fields_set`, and an explicit JSON
null means "reset" where the API says so). Cross-field rules live in services.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ostium.model.enums import (
    ClientAuthentication,
    HealthMonitorType,
    HttpMethod,
    L7Action,
    L7CompareType,
    L7RuleType,
    LbAlgorithm,
    ListenerProtocol,
    PersistenceType,
    PoolProtocol,
)

from .common import Bool, Int, IpAddr, Port, Str36, Str255, Tags, Uuid, Wire

TimeoutMs = Annotated[Int, Field(ge=0, le=2073600000)]
Str2048 = Annotated[str, Field(max_length=2048)]
ListStr32 = list[Annotated[str, Field(max_length=32)]]


class AdditionalVip(Wire):
    subnet_id: Uuid
    ip_address: IpAddr | None = None
    port_id: Uuid | None = None


class SessionPersistence(Wire):
    type: PersistenceType | None = None
    cookie_name: Str255 | None = None
    persistence_timeout: Int | None = None
    persistence_granularity: Str255 | None = None


# ---- health monitor -------------------------------------------------------------


class _HealthMonitorFields(Wire):
    name: Str255 | None = None
    admin_state_up: Bool = True
    delay: Annotated[Int, Field(ge=0, le=2147483647)]
    timeout: Annotated[Int, Field(ge=0, le=2147483647)]
    max_retries: Annotated[Int, Field(ge=1, le=10)]
    max_retries_down: Annotated[Int, Field(ge=1, le=10)] | None = None
    http_method: HttpMethod | None = None
    url_path: Str2048 | None = None
    expected_codes: Annotated[str, Field(max_length=64)] | None = None
    http_version: float | None = None
    domain_name: Str255 | None = None
    tags: Tags = []
    type: HealthMonitorType
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None

    @field_validator("http_version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("Value should be 1.0 or 1.1")
        if v is None:
            return v
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError("Value should be 1.0 or 1.1") from None
        if f not in (1.0, 1.1):
            raise ValueError("Value should be 1.0 or 1.1")
        return f


class HealthMonitorCreate(_HealthMonitorFields):
    pool_id: Uuid


class GraphHealthMonitor(_HealthMonitorFields):
    pass


class HealthMonitorUpdate(Wire):
    name: Str255 | None = None
    admin_state_up: Bool = True
    delay: Annotated[Int, Field(ge=0, le=2147483647)] | None = None
    timeout: Annotated[Int, Field(ge=0, le=2147483647)] | None = None
    max_retries: Annotated[Int, Field(ge=1, le=10)] | None = None
    max_retries_down: Annotated[Int, Field(ge=1, le=10)] | None = None
    http_method: HttpMethod | None = None
    url_path: Str2048 | None = None
    expected_codes: Annotated[str, Field(max_length=64)] | None = None
    http_version: float | None = None
    domain_name: Str255 | None = None
    tags: Tags | None = None

    _version = field_validator("http_version", mode="before")(
        _HealthMonitorFields._version.__func__  # type: ignore[attr-defined]
    )


# ---- member ---------------------------------------------------------------------


class MemberCreate(Wire):
    name: Str255 | None = None
    admin_state_up: Bool = True
    address: IpAddr
    protocol_port: Port
    weight: Annotated[Int, Field(ge=0, le=256)] | None = None
    backup: Bool = False
    subnet_id: Uuid | None = None
    monitor_address: IpAddr | None = None
    monitor_port: Port | None = None
    request_sriov: Bool = False
    tags: Tags = []
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None


class MemberUpdate(Wire):
    name: Str255 | None = None
    admin_state_up: Bool = True
    weight: Annotated[Int, Field(ge=0, le=256)] | None = None
    backup: Bool | None = None
    monitor_address: IpAddr | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None


class MemberBatch(Wire):
    members: list[MemberCreate]


# ---- pool -----------------------------------------------------------------------


class _PoolFields(Wire):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    session_persistence: SessionPersistence | None = None
    tls_enabled: Bool = False
    tls_container_ref: Str255 | None = None
    ca_tls_container_ref: Str255 | None = None
    crl_container_ref: Str255 | None = None
    tls_ciphers: Str2048 | None = None
    tls_versions: ListStr32 | None = None
    alpn_protocols: ListStr32 | None = None
    tags: Tags = []
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None


class PoolCreate(_PoolFields):
    protocol: PoolProtocol
    lb_algorithm: LbAlgorithm
    loadbalancer_id: Uuid | None = None
    listener_id: Uuid | None = None


class GraphPool(_PoolFields):
    """A pool inside a graph create: a full definition or a `{"name": ...}` reference."""

    protocol: PoolProtocol | None = None
    lb_algorithm: LbAlgorithm | None = None
    healthmonitor: GraphHealthMonitor | None = None
    members: list[MemberCreate] | None = None


class PoolUpdate(Wire):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    lb_algorithm: LbAlgorithm | None = None
    session_persistence: SessionPersistence | None = None
    tls_enabled: Bool | None = None
    tls_container_ref: Str255 | None = None
    ca_tls_container_ref: Str255 | None = None
    crl_container_ref: Str255 | None = None
    tls_ciphers: Str2048 | None = None
    tls_versions: ListStr32 | None = None
    alpn_protocols: ListStr32 | None = None
    tags: Tags | None = None


# ---- L7 -------------------------------------------------------------------------


class L7RuleCreate(Wire):
    type: L7RuleType
    compare_type: L7CompareType
    key: Str255 | None = None
    value: Str255
    invert: Bool = False
    admin_state_up: Bool = True
    tags: Tags = []
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None


class L7RuleUpdate(Wire):
    type: L7RuleType | None = None
    compare_type: L7CompareType | None = None
    key: Str255 | None = None
    value: Str255 | None = None
    invert: Bool | None = None
    admin_state_up: Bool = True
    tags: Tags | None = None


RedirectCode = Literal[301, 302, 303, 307, 308]


class _L7PolicyFields(Wire):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    action: L7Action
    redirect_url: Str2048 | None = None
    redirect_prefix: Str2048 | None = None
    redirect_pool_id: Uuid | None = None
    redirect_http_code: RedirectCode | None = None
    position: Annotated[Int, Field(ge=1, le=2147483647)] | None = None
    tags: Tags = []
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None

    @field_validator("redirect_http_code", mode="before")
    @classmethod
    def _code(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return v


class L7PolicyCreate(_L7PolicyFields):
    listener_id: Uuid


class GraphL7Policy(_L7PolicyFields):
    redirect_pool: GraphPool | None = None
    rules: list[L7RuleCreate] | None = None


class L7PolicyUpdate(Wire):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    action: L7Action | None = None
    redirect_url: Str2048 | None = None
    redirect_prefix: Str2048 | None = None
    redirect_pool_id: Uuid | None = None
    redirect_http_code: RedirectCode | None = None
    position: Annotated[Int, Field(ge=1, le=2147483647)] | None = None
    tags: Tags | None = None

    _code = field_validator("redirect_http_code", mode="before")(
        _L7PolicyFields._code.__func__  # type: ignore[attr-defined]
    )


# ---- listener -------------------------------------------------------------------


class _ListenerOptions(Wire):
    """The fields a listener create and update share."""

    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    connection_limit: Annotated[Int, Field(ge=-1)] | None = None
    default_pool_id: Uuid | None = None
    default_tls_container_ref: Str255 | None = None
    sni_container_refs: list[Str255] | None = None
    insert_headers: dict[Str255, Str255] | None = None
    timeout_client_data: TimeoutMs | None = None
    timeout_member_connect: TimeoutMs | None = None
    timeout_member_data: TimeoutMs | None = None
    timeout_tcp_inspect: TimeoutMs | None = None
    client_authentication: ClientAuthentication | None = None
    client_ca_tls_container_ref: Str255 | None = None
    client_crl_container_ref: Str255 | None = None
    allowed_cidrs: list[Str255] | None = None
    tls_ciphers: Str2048 | None = None
    tls_versions: ListStr32 | None = None
    alpn_protocols: ListStr32 | None = None
    hsts_max_age: Annotated[Int, Field(ge=0)] | None = None


class _ListenerFields(_ListenerOptions):
    protocol: ListenerProtocol
    protocol_port: Port
    hsts_include_subdomains: Bool = False
    hsts_preload: Bool = False
    tags: Tags = []
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None


class ListenerCreate(_ListenerFields):
    loadbalancer_id: Uuid


class GraphListener(_ListenerFields):
    default_pool: GraphPool | None = None
    l7policies: list[GraphL7Policy] | None = None


class ListenerUpdate(_ListenerOptions):
    hsts_include_subdomains: Bool | None = None
    hsts_preload: Bool | None = None
    tags: Tags | None = None


# ---- load balancer ----------------------------------------------------------------


class LoadBalancerCreate(Wire):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    project_id: Str36 | None = None
    tenant_id: Str36 | None = None
    vip_subnet_id: Uuid | None = None
    vip_network_id: Uuid | None = None
    vip_port_id: Uuid | None = None
    vip_address: IpAddr | None = None
    vip_qos_policy_id: Uuid | None = None
    vip_sg_ids: list[Uuid] | None = None
    additional_vips: list[AdditionalVip] | None = None
    provider: Annotated[str, Field(max_length=64)] | None = None
    flavor_id: Uuid | None = None
    availability_zone: Str255 | None = None
    tags: Tags = []
    listeners: list[GraphListener] | None = None
    pools: list[GraphPool] | None = None


class LoadBalancerUpdate(Wire):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    vip_qos_policy_id: Uuid | None = None
    vip_sg_ids: list[Uuid] | None = None
    tags: Tags | None = None
    # Accepted only to refuse them with a clear message (the service does).
    flavor_id: Any = None
    topology: Any = None
