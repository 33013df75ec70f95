"""The multi-host suite: several "hosts" (network namespaces, each with its own agent)
joined to one ostium. Long (a minute or more), so it runs with `make test-hosts`
(OSTIUM_HOSTS_SUITE=1), not with every `make test`."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("OSTIUM_HOSTS_SUITE") == "1" else ["test_*.py"]
