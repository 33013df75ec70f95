"""IPAM: addresses on ostium's declared subnets, as rows in `ip_allocation`.

Addresses are allocated from the subnet's host range, skipping the network's host-side
gateway and reserved addresses. The (subnet, address) primary key makes a double
allocation impossible under concurrency, and an allocation commits in the caller's
transaction (the load balancer row and its VIP address together, or neither), which is
why IPAM lives with the database and not behind a driver. Called by the services (VIP
addresses) and the worker (VRRP and member-network addresses, release on delete).

Allocation cost does not grow with the subnet's fill: the search starts at the offset
equal to the number of addresses in use (where the next free one is when addresses were
handed out in order) and asks the database which of the next `_BATCH` candidates are
taken, wrapping round once; it never loads every used address of a subnet. Do not make
it walk `ipaddress.hosts()` or load the subnet's allocations: subnets hold tens of
thousands of addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from sqlalchemy import delete, func, select
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
    first, last = host_range(net.ip_network)
    size = int(last) - int(first) + 1
    in_subnet = m.IpAllocation.subnet_id == net.subnet_id
    in_use = session.scalar(select(func.count()).select_from(m.IpAllocation).where(in_subnet))
    gateway = str(ipaddress.ip_address(net.gateway))
    for batch in _candidates(first, size, (in_use or 0) % size, gateway):
        taken = set(
            session.scalars(
                select(m.IpAllocation.address).where(in_subnet, m.IpAllocation.address.in_(batch))
            )
        )
        for addr in batch:
            if addr in taken:
                continue
            try:
                with session.begin_nested():
                    session.add(
                        m.IpAllocation(
                            subnet_id=net.subnet_id,
                            address=addr,
                            owner_id=owner_id,
                            purpose=purpose,
                        )
                    )
                    session.flush()
            except IntegrityError:
                continue  # taken by a concurrent transaction since we looked
            return addr
    raise Conflict(
        f"No more IP addresses available on subnet {net.subnet_id} ({net.subnet_name}, {net.cidr})."
    )


Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_BATCH = 256


def host_range(netw: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[Address, Address]:
    """First and last address `netw.hosts()` would give, computed without walking it."""
    if netw.num_addresses <= 2:
        return netw.network_address, netw.broadcast_address
    first = netw.network_address + 1
    last = netw.broadcast_address - 1 if netw.version == 4 else netw.broadcast_address
    return first, last


def _candidates(first: Address, size: int, start: int, gateway: str) -> Iterator[list[str]]:
    """Host addresses as strings in batches, from offset `start` to the end of the range
    and then from its beginning, without the gateway."""
    for lo, hi in ((start, size), (0, start)):
        for off in range(lo, hi, _BATCH):
            batch = [str(first + o) for o in range(off, min(off + _BATCH, hi))]
            yield [a for a in batch if a != gateway]


def release(session: Session, owner_id: str) -> None:
    session.execute(delete(m.IpAllocation).where(m.IpAllocation.owner_id == owner_id))
