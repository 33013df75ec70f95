"""Repair an amphora's lost plumbing: a bridge, veth or VLAN link that vanished.

Role: one step of the supervisor's pass (every `respawn_interval`, 2 s by default).
`netns.plumbing_fault` reads sysfs (no subprocess); when something is missing, for
example the bridge an operator's tool deleted, the plumbing is ensured again (the
bridge recreated, the veths put back into it, the addresses and the default route
restored) and a SINGLE amphora announces its VIP so neighbours learn its new MAC. The
fault and what became of it are kept on the amphora (`AmphoraState.plumbing_fault`,
`plumbing_repairs`) and logged. A repair that fails (an operator's bridge or a parent
interface that ostium must not create is missing) is tried again on every pass.

Callers: `supervising`, with the amphora's lock held; `amphorae.ensure` records a
repair it made itself (a spec push that found the plumbing broken first). A lost
namespace is not handled here: the supervisor rebuilds it or leaves it to failover
(`rebuild_lost_namespaces`).
"""

from __future__ import annotations

import logging

from ostium.agent import garp, netns
from ostium.agent.amphora import Amphora
from ostium.agent.errors import AgentFailure
from ostium.agent.naming import VIP_IFNAME

LOG = logging.getLogger(__name__)


def repair_plumbing(amp: Amphora) -> bool:
    """Ensure `amp`'s plumbing again if a part of it is lost; True if it was repaired."""
    fault = netns.plumbing_fault(amp.names, amp.plug)
    if fault is None or not netns.namespace_exists(amp.names.namespace):
        return False
    LOG.warning("amphora %s: %s; repairing its plumbing", amp.amphora_id, fault)
    try:
        netns.ensure_amphora(amp.names, amp.plug)
    except AgentFailure as exc:
        if amp.plumbing_fault != f"{fault}; repair failed: {exc.message}":
            LOG.error("amphora %s: cannot repair (%s): %s", amp.amphora_id, fault, exc.message)
        amp.plumbing_fault = f"{fault}; repair failed: {exc.message}"
        return False
    amp.plumbed = amp.plug
    record_repair(amp, fault)
    if amp.spec is not None and amp.spec.vrrp is None:
        for vip in amp.plug.vip.addresses():
            garp.announce(amp.names.namespace, VIP_IFNAME, str(vip))
    return True


def record_repair(amp: Amphora, fault: str) -> None:
    """Count a repair of `fault` (by this module, or by an ensure that found it first)."""
    amp.plumbing_repairs += 1
    amp.plumbing_fault = f"{fault}; repaired"
    LOG.info("amphora %s: plumbing repaired (%s)", amp.amphora_id, fault)
