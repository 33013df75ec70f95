"""IPAM: addresses on ostium's declared subnets, as rows in `ip_allocation`.

Addresses are allocated from the subnet's allocation range (default: its host range),
skipping its gateway, the host's address and reserved addresses. The (subnet, address)
primary key makes a double allocation impossible under concurrency, and an allocation
commits in the caller's transaction (the load balancer row and its VIP address together,
or neither), which is why IPAM lives with the database and not behind a driver. Called
by the services (VIP addresses) and the worker (VRRP and member-network addresses,
release on delete).

Allocation stays cheap however full a subnet is: the next free address of a subnet
filled in order is at the offset equal to the number of addresses in use, so a count
and a few primary-key look-ups find it (no statement whose cost depends on the query
planner's statistics). Only when those are taken (many addresses released below that
point) are the subnet's addresses read once and the lowest free one taken, which fills
the gaps. Do not walk `ipaddress.hosts()`: subnets hold tens of thousands.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools

from sqlalchemy import delete, func, select, text
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
    if ip in (netw.network_address, netw.broadcast_address) or str(ip) in net.reserved():
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
    first, last = net.allocation_range()
    size = int(last) - int(first) + 1
    in_subnet = m.IpAllocation.subnet_id == net.subnet_id
    # The gateway and the host's address (either may lie outside the range).
    skip = {int(ipaddress.ip_address(a)) - int(first) for a in net.reserved()}
    in_use = session.scalar(select(func.count()).select_from(m.IpAllocation).where(in_subnet)) or 0
    # Filled in order, a subnet's first free offset is the in-use count (further by the
    # reserved addresses below it): a few primary-key look-ups find it.
    start = (in_use + sum(0 <= r <= in_use for r in skip)) % size
    order = itertools.chain(range(start, size), range(start))
    probes = [off for off in itertools.islice(order, _PROBES) if off not in skip]
    if session.get_bind().dialect.name == "postgresql":
        candidates = [str(first + off) for off in probes]
        claimed = _claim_first(session, net, candidates, owner_id, purpose)
        if claimed is not None:
            return claimed
        probes = []  # all taken, locked or lost to a race: read the subnet once below
    for off in probes:
        addr = str(first + off)
        free = off not in skip and not _taken(session, net, addr)
        if free and _claim(session, net, addr, owner_id, purpose):
            return addr
    # Enough addresses released below that point: read the subnet's addresses once and
    # take the lowest free one, so the gaps fill up and the look-ups above work again.
    used = set(session.scalars(select(m.IpAllocation.address).where(in_subnet)))
    for off in range(size):
        addr = str(first + off)
        free = off not in skip and addr not in used
        if free and _claim(session, net, addr, owner_id, purpose):
            return addr
    raise Conflict(
        f"No more IP addresses available on subnet {net.subnet_id} ({net.subnet_name}, {net.cidr})."
    )


def _taken(session: Session, net: NetworkSettings, address: str) -> bool:
    found = session.scalar(
        select(m.IpAllocation.address).where(
            m.IpAllocation.subnet_id == net.subnet_id, m.IpAllocation.address == address
        )
    )
    return found is not None


def _claim(
    session: Session, net: NetworkSettings, address: str, owner_id: str, purpose: str
) -> bool:
    """Insert the row; False if a concurrent transaction took the address first."""
    if not _try_address_lock(session, net, address):
        return False
    try:
        with session.begin_nested():
            session.add(
                m.IpAllocation(
                    subnet_id=net.subnet_id, address=address, owner_id=owner_id, purpose=purpose
                )
            )
            session.flush()
    except IntegrityError:
        return False
    return True


_CLAIM_FIRST = text(
    """
    INSERT INTO ip_allocation (subnet_id, address, owner_id, purpose)
    SELECT CAST(:subnet AS varchar), c.address, CAST(:owner AS varchar), CAST(:purpose AS varchar)
    FROM unnest(CAST(:addresses AS text[]), CAST(:keys AS bigint[])) AS c(address, key)
    WHERE NOT EXISTS (
        SELECT 1 FROM ip_allocation a
        WHERE a.subnet_id = CAST(:subnet AS varchar) AND a.address = c.address
    )
    AND pg_try_advisory_xact_lock(c.key)
    LIMIT 1
    ON CONFLICT DO NOTHING
    RETURNING address
    """
)


def _claim_first(
    session: Session, net: NetworkSettings, addresses: list[str], owner_id: str, purpose: str
) -> str | None:
    """PostgreSQL: the first of `addresses` that is neither in use nor locked by another
    transaction, locked and inserted in one statement (one round trip instead of a
    look-up, a lock and a savepoint per probed address: twenty concurrent creates probe
    up to twenty addresses each). None if none could be taken."""
    if not addresses:
        return None
    session.flush()  # rows of this transaction the statement must see
    row = session.execute(
        _CLAIM_FIRST,
        {
            "subnet": net.subnet_id,
            "owner": owner_id,
            "purpose": purpose,
            "addresses": addresses,
            "keys": [_lock_key(net, a) for a in addresses],
        },
    ).first()
    return None if row is None else str(row[0])


def _lock_key(net: NetworkSettings, address: str) -> int:
    digest = hashlib.blake2b(f"{net.subnet_id}/{address}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _try_address_lock(session: Session, net: NetworkSettings, address: str) -> bool:
    """PostgreSQL: a transaction-scoped advisory lock on the address, without waiting.

    Concurrent creates all probe the same next free address. On PostgreSQL an INSERT
    that collides with another transaction's uncommitted row waits for that whole
    transaction to end, so twenty writers queued behind each other (seconds each). A
    writer that cannot take the lock moves on to the next address at once. SQLite has
    one writer at a time: nothing to skip there."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(_lock_key(net, address)))))


Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_PROBES = 16


def host_range(netw: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[Address, Address]:
    """First and last address `netw.hosts()` would give, computed without walking it."""
    if netw.num_addresses <= 2:
        return netw.network_address, netw.broadcast_address
    first = netw.network_address + 1
    last = netw.broadcast_address - 1 if netw.version == 4 else netw.broadcast_address
    return first, last


def release(session: Session, owner_id: str) -> None:
    session.execute(delete(m.IpAllocation).where(m.IpAllocation.owner_id == owner_id))
