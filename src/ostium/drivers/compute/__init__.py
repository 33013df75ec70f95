"""Compute drivers: noop (test double) and netns (amphorae on this host's agent)."""
