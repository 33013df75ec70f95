"""Development and demo tools: nothing a production deployment runs or imports.

The runtime packages (`control`, `agent`, `drivers`, `model`) never import this one;
only the CLI's `ostium demo-backends`, tests and benchmarks do.
"""
