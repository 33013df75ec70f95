"""`[amphora_agent]` settings: where agents send access logs, and the receiver of them.

Role: one typed group of `Settings` (built by `settings.load_settings`); kept apart so
`settings.py` stays one screenful per concept.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AmphoraAgentSettings:
    """`[amphora_agent]`: where the agents send access logs (Octavia's names), and
    ostium's receiver of them in the API process (`ostium logs`, the dashboard)."""

    tenant_log_targets: str = ""
    """Syslog targets (UDP, `host:port,...`); empty: this controller's receiver."""
    user_log_facility: int = 0
    log_receiver_ip: str = "127.0.0.1"
    log_receiver_port: int = 5556
    log_receiver_lines: int = 1000
    """Lines kept per load balancer by the receiver (memory only: a tail, not an archive)."""

    def targets(self) -> str:
        if self.tenant_log_targets:
            return self.tenant_log_targets
        return f"{_bracket(self.log_receiver_ip)}:{self.log_receiver_port}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
