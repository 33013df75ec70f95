"""ostium: Load Balancer as a Service speaking the Octavia v2 API."""

__version__ = "0.1.0"
