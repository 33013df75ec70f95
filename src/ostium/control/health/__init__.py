"""The health manager: heartbeat receiver, status/statistics updater, stale watchdog."""
