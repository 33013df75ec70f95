"""IPAM: addresses on ostium's declared subnets, as rows in `ip_allocation`.

Addresses are allocated from the subnet's host range, skipping the network's host-side
gateway and reserved addresses. The (subnet, address) primary key makes a double
allocation impossible under concurrency, and an allocation commits in the caller's
transaction (the load balancer row and its VIP address together, or neither), which is
why IPAM lives with the database and not behind a driver. Called by the services (VIP
addresses) and the worker (VRRP and member-network addresses, release on delete).
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostium.control.db import models as m
from ostium.control.settings import NetworkSettings
from ostium.model.errors import BadRequest, Conflict


def check_address_in(net: NetworkSettings, address: str, field: str) -> None:
    ip = ipaddress.ip_address(address)
    netw = net.ip_network
    if ip.version != netw.version or ip not in netw:
        raise BadRequest(
            f"Validation failure: {field} {address} is not in subnet {net.subnet_id} ({net.cidr})."
        )
    if ip in (netw.network_address, netw.broadcast_address) or str(ip) == net.gateway:
        raise BadRequest(
            f"Validation failure: {field} {address} is reserved in subnet "
            f"{net.subnet_id} ({net.cidr})."
        )


def allocate(
    session: Session,
    net: NetworkSettings,
    owner_id: str,
    requested: str | None,
    purpose: str = "vip",
) -> str:
    if requested:
        check_address_in(net, requested, "vip_address")
        try:
            with session.begin_nested():
                session.add(
                    m.IpAllocation(
                        subnet_id=net.subnet_id,
                        address=requested,
                        owner_id=owner_id,
                        purpose=purpose,
                    )
                )
                session.flush()
        except IntegrityError:
            raise Conflict(
                f"IP address {requested} already allocated in subnet {net.subnet_id}."
            ) from None
        return requested
    used = set(
        session.scalars(
            select(m.IpAllocation.address).where(m.IpAllocation.subnet_id == net.subnet_id)
        )
    )
    used.add(net.gateway)
    for host in net.ip_network.hosts():
        addr = str(host)
        if addr in used:
            continue
        try:
            with session.begin_nested():
                session.add(
                    m.IpAllocation(
                        subnet_id=net.subnet_id, address=addr, owner_id=owner_id, purpose=purpose
                    )
                )
                session.flush()
        except IntegrityError:
            continue
        return addr
    raise Conflict(f"No more IP addresses available on subnet {net.subnet_id}.")


def release(session: Session, owner_id: str) -> None:
    session.execute(delete(m.IpAllocation).where(m.IpAllocation.owner_id == owner_id))
