"""Which auth strategy ostium picks: keystone on a non-loopback bind unless the config
or a flag says otherwise; noauth stays the loopback default."""

from __future__ import annotations

from pathlib import Path

from ostium.control.settings import load_settings


def test_keystone_is_the_default_off_loopback(tmp_path: Path) -> None:
    for bind, expected in (
        ("127.0.0.1:1", "noauth"),
        ("[::1]:1", "noauth"),
        ("localhost:1", "noauth"),
        ("198.18.0.1:1", "keystone"),
        ("0.0.0.0:1", "keystone"),
    ):
        s = load_settings(state_dir=str(tmp_path), bind=bind)
        assert s.api.auth_strategy == expected, bind
    s = load_settings(state_dir=str(tmp_path), bind="0.0.0.0:1", auth_strategy="token")
    assert s.api.auth_strategy == "token"
    ini = tmp_path / "o.ini"
    ini.write_text("[api_settings]\nauth_strategy = noauth\nbind_host = 0.0.0.0\n")
    assert load_settings(str(ini), state_dir=str(tmp_path)).api.auth_strategy == "noauth"


def test_identity_and_policy_groups(tmp_path: Path) -> None:
    ini = tmp_path / "o.ini"
    ini.write_text(
        "[identity]\ntoken_expiration = 600\nregion_name = Lab\nkey_manager_in_catalog = false\n"
        "[oslo_policy]\nenforce_new_defaults = false\n"
    )
    s = load_settings(str(ini), state_dir=str(tmp_path))
    assert (s.identity.token_expiration, s.identity.region_name) == (600, "Lab")
    assert s.identity.key_manager_in_catalog is False
    assert s.policy.enforce_new_defaults is False
