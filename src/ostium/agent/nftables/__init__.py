"""The amphora's nftables table: UDP and SCTP load balancing, `allowed_cidrs`.

ostium's answer to Octavia's keepalived LVS listeners on a kernel without IPVS: one
table per amphora (`inet ostium_amphora`) rendered from the spec (`services` decides,
`ruleset` writes), loaded in one all-or-nothing `nft -f` transaction (`loading`);
health checks of UDP/SCTP pools (`checks`, `checking`) feed the verdicts the table is
rendered from, and `statistics` reads what the heartbeat reports. Imports `model/` and
the agent's own helpers only.
"""
