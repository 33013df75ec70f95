"""Which amphorae this agent has: in memory, and on disk in its state directory.

Role: the index of `Amphora` records by id, safe to use from the API threads, the
supervisor and the heartbeat sender at once, and their persistence (plug.json and
spec.json in each amphora's directory) so a restarted agent finds them again. Callers:
`amphorae` (ensure, apply, delete, queries), `supervising` (passes, adoption),
`sweeping` (what is known). Must not start processes or touch namespaces: an amphora is
registered before anything is created for it, and removed only after it is gone.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from ostium.agent import state_files
from ostium.agent.amphora import Amphora
from ostium.agent.errors import AmphoraNotFound
from ostium.agent.naming import Names
from ostium.model.spec import AmphoraPlug, AmphoraSpec

MAX_SOCKET_PATH = 100
"""A little under the kernel's 108-byte limit on unix socket paths."""
ZERO_ID = "00000000-0000-0000-0000-000000000000"
PLUG_FILE = "plug.json"
SPEC_FILE = "spec.json"


class AmphoraRegistry:
    def __init__(self, state_dir: Path, prefix: str) -> None:
        self.root = Path(state_dir) / "amphorae"
        self.prefix = prefix
        self.root.mkdir(parents=True, exist_ok=True)
        # <root>/<namespace>/stats.sock must fit in a unix socket address.
        if len(str(self.root)) + 30 > MAX_SOCKET_PATH:
            raise ValueError(f"state dir {state_dir} is too long for unix sockets")
        self._by_id: dict[str, Amphora] = {}
        self._lock = threading.Lock()
        self.changes = 0
        """Counts additions, removals and applied specs: what looks at every amphora on a
        timer may work its list out again only when this moved (read it first)."""
        self._probe = Names(prefix, ZERO_ID)

    # ----------------------------------------------------------------- names

    def names(self, amphora_id: str) -> Names:
        return Names(self.prefix, amphora_id)

    def owns(self, name: str) -> bool:
        """True if a namespace (or state directory) name has the shape ours have."""
        return self._probe.owns_namespace(name)

    def directory(self, amphora_id: str) -> Path:
        return self.root / self.names(amphora_id).namespace

    # ----------------------------------------------------------------- index

    def get(self, amphora_id: str) -> Amphora | None:
        with self._lock:
            return self._by_id.get(amphora_id)

    def find(self, amphora_id: str) -> Amphora:
        amp = self.get(amphora_id)
        if amp is None:
            raise AmphoraNotFound(f"amphora {amphora_id} is not on this agent")
        return amp

    def get_or_create(self, plug: AmphoraPlug) -> Amphora:
        """The record of `plug`'s amphora, registered (with its directory) if new."""
        with self._lock:
            amp = self._by_id.get(plug.amphora_id)
            if amp is None:
                directory = self.directory(plug.amphora_id)
                directory.mkdir(parents=True, exist_ok=True)
                amp = Amphora(self.names(plug.amphora_id), directory, plug)
                self._by_id[plug.amphora_id] = amp
                self.changes += 1
            return amp

    def add(self, amp: Amphora) -> None:
        with self._lock:
            self._by_id[amp.amphora_id] = amp
            self.changes += 1

    def remove(self, amphora_id: str) -> None:
        with self._lock:
            self._by_id.pop(amphora_id, None)
            self.changes += 1

    def all(self) -> list[Amphora]:
        with self._lock:
            return list(self._by_id.values())

    def namespaces(self) -> set[str]:
        with self._lock:
            return {a.names.namespace for a in self._by_id.values()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)

    # ----------------------------------------------------------------- disk

    def save_plug(self, amp: Amphora) -> None:
        state_files.write_atomic(amp.directory / PLUG_FILE, amp.plug.model_dump_json())

    def save_spec(self, amp: Amphora, spec: AmphoraSpec) -> None:
        """Write the spec `amp` now runs (set on it before this call)."""
        # TLS material stays in its own 0600 files (tls_files), never in spec.json.
        state_files.write_atomic(
            amp.directory / SPEC_FILE,
            spec.model_dump_json(exclude={"tls_files": {"__all__": {"pem"}}}),
        )
        with self._lock:
            self.changes += 1

    def load(self) -> list[Amphora]:
        """Register every amphora found in the state directory (after an agent restart).

        A directory without plug.json is what an interrupted ensure left: removed."""
        loaded: list[Amphora] = []
        for directory in sorted(self.root.iterdir()):
            plug_file = directory / PLUG_FILE
            if not plug_file.exists():
                shutil.rmtree(directory, ignore_errors=True)
                continue
            plug = AmphoraPlug.model_validate_json(plug_file.read_text())
            amp = Amphora(self.names(plug.amphora_id), directory, plug)
            spec_file = directory / SPEC_FILE
            if spec_file.exists():
                amp.spec = AmphoraSpec.model_validate_json(spec_file.read_text())
            self.add(amp)
            loaded.append(amp)
        return loaded
