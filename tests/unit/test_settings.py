"""Settings: defaults, INI sections with Octavia's names, declared networks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostium.control.settings import load_settings


def test_defaults_and_absolute_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OSTIUM_STATE_DIR", raising=False)
    s = load_settings()
    # haproxy reads a relative socket path as host:port, so the state dir is absolute
    assert s.state_dir == tmp_path / "var" and s.state_dir.is_absolute()
    assert (s.api.bind_host, s.api.bind_port, s.api.auth_strategy) == ("127.0.0.1", 9876, "noauth")
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'ostium.sqlite'}"
    names = [n.name for n in s.networks]
    assert names == ["vip-net", "demo-net", "vip-net-v6"]
    assert s.networks[0].cidr == "198.18.0.0/17" and s.networks[0].gateway == "198.18.0.1"


def test_ini_file_and_flags(tmp_path: Path) -> None:
    ini = tmp_path / "ostium.ini"
    ini.write_text(
        "[api_settings]\nauth_strategy = token\nbind_port = 1234\n"
        "[controller_worker]\nworkers = 7\n"
        "[networking]\ndefault_networks = false\n"
        "[network:back]\ncidr = 198.19.3.0/24\nbridge = ostb0\n"
    )
    s = load_settings(str(ini), bind="127.0.0.1:4321", database_url="sqlite:////x.db")
    assert s.api.auth_strategy == "token" and s.api.bind_port == 4321
    assert s.worker.workers == 7 and s.database_url == "sqlite:////x.db"
    (net,) = s.networks
    assert (net.name, net.bridge, net.gateway, net.subnet_name) == (
        "back",
        "ostb0",
        "198.19.3.1",
        "back-subnet",
    )
    # deterministic ids: the same name gives the same subnet id every time
    assert load_settings(str(ini)).networks[0].subnet_id == net.subnet_id


@pytest.mark.parametrize(
    "text",
    [
        "[api_settings]\nno_such_option = 1\n",
        "[api_settings]\nauth_strategy = kerberos\n",
        "[network:x]\ncidr = 10.0.0.0/24\n",
        "[controller_worker]\nworkers = many\n",
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str) -> None:
    ini = tmp_path / "bad.ini"
    ini.write_text(text)
    with pytest.raises(ValueError):
        load_settings(str(ini))


def test_tls_defaults_are_checked_at_start(tmp_path: Path) -> None:
    """Octavia's start-up checks of [certificates] (issue 10)."""
    cases = {
        "minimum_tls_version = TLSv1.3": "less than the minimum",
        "minimum_tls_version = TLSv9": "minimum_tls_version",
        "tls_cipher_prohibit_list = ECDHE-RSA-AES128-GCM-SHA256": "conflict with prohibit list",
        "default_pool_tls_versions = TLSv1.2, TLSv2": "default_pool_tls_versions",
    }
    for line, message in cases.items():
        ini = tmp_path / "ostium.ini"
        ini.write_text(f"[certificates]\n{line}\n")
        with pytest.raises(ValueError, match=message):
            load_settings(str(ini), state_dir=str(tmp_path))
    ini.write_text("[certificates]\nminimum_tls_version = TLSv1.2\n")
    assert load_settings(str(ini), state_dir=str(tmp_path)).certificates.minimum_tls_version
