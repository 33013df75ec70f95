"""The deployment's secret key file: made once, whole, whoever asks first."""

from __future__ import annotations

import threading
from pathlib import Path

from ostium.control.secrets import crypto


def test_threads_that_ask_for_a_new_key_at_once_all_get_the_same_whole_key(
    tmp_path: Path,
) -> None:
    keys: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        try:
            keys.append(crypto.load_key(tmp_path).encrypt(b"x"))
        except BaseException as exc:  # an empty or half-written key raises here
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    fernet = crypto.load_key(tmp_path)
    assert {fernet.decrypt(k) for k in keys} == {b"x"}  # one key for everybody
    assert crypto.key_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [crypto.KEY_FILE]  # no leftovers
