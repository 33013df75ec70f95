"""`[keystone_authtoken]` settings and the token cache of the external-Keystone mode
(pure parts; the validator itself is tested against a real Keystone in
tests/clients/test_external_keystone.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostium.control.identity.token_cache import TokenCache
from ostium.control.settings import load_settings


def _ini(tmp_path: Path, body: str) -> str:
    path = tmp_path / "ostium.ini"
    path.write_text("[api_settings]\nauth_strategy = keystone\n[keystone_authtoken]\n" + body)
    return str(path)


def test_octavia_style_section_is_read(tmp_path: Path) -> None:
    s = load_settings(
        _ini(
            tmp_path,
            "www_authenticate_uri = http://keystone.example:5000\n"
            "auth_url = http://keystone.example:5000/v3/\n"
            "auth_type = password\nusername = octavia\npassword = pw\n"
            "project_name = service\nuser_domain_name = Default\n"
            "project_domain_name = Default\ntoken_cache_time = 60\n"
            "memcached_servers = 127.0.0.1:11211\nservice_token_roles_required = true\n",
        )
    )
    k = s.keystone_authtoken
    assert s.api.auth_strategy == "keystone" and k.enabled
    assert k.identity_v3 == "http://keystone.example:5000/v3"
    assert k.authenticate_uri == "http://keystone.example:5000"
    assert (k.username, k.project_name, k.token_cache_time) == ("octavia", "service", 60)


def test_auth_url_without_version_and_default_uri(tmp_path: Path) -> None:
    s = load_settings(
        _ini(
            tmp_path,
            "auth_url = https://id.example/identity\nauth_type = v3applicationcredential\n"
            "application_credential_id = abc\napplication_credential_secret = s\n",
        )
    )
    k = s.keystone_authtoken
    assert k.identity_v3 == "https://id.example/identity/v3"
    assert k.authenticate_uri == "https://id.example/identity"
    assert k.uses_application_credential


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("auth_url = http://k:5000\nusername = u\n", "username (or user_id) and password"),
        ("auth_url = http://k:5000\npassword = hunter2\n", "username (or user_id) and password"),
        ("auth_url = k:5000\nusername = u\npassword = p\n", "is not an http(s) URL"),
        ("auth_url = http://k\nauth_type = token\n", "auth_type: 'token'"),
        (
            "auth_url = http://k\nauth_type = v3applicationcredential\n"
            "application_credential_id = x\n",
            "application_credential_secret is required",
        ),
        ("auth_url = http://k\nusername = u\npassword = p\nbogus = 1\n", "no option 'bogus'"),
        ("auth_url = http://k\nusername = u\npassword = p\ntoken_cache_time = x\n", "not a int"),
        ("auth_url = http://k\nusername = u\npassword = p\ntoken_cache_size = 0\n", ">= 1"),
    ],
)
def test_bad_section_is_refused_without_showing_secrets(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        load_settings(_ini(tmp_path, body))
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


def test_legacy_roles_switch(tmp_path: Path) -> None:
    path = tmp_path / "ostium.ini"
    path.write_text("[oslo_policy]\nenforce_new_defaults = false\n")
    assert load_settings(str(path)).policy.enforce_new_defaults is False
    assert load_settings().policy.enforce_new_defaults is True


def test_cache_is_bounded_expires_and_keeps_no_token() -> None:
    now = [0.0]
    cache: TokenCache[str | None] = TokenCache(max_entries=2, clock=lambda: now[0])
    cache.put("token-a", "alice", ttl=10)
    cache.put("token-b", None, ttl=10)  # "not valid" is remembered too
    assert cache.get("token-a") == (True, "alice")  # a is now the most recently used
    cache.put("token-c", "carol", ttl=10)
    assert len(cache) == 2
    assert cache.get("token-b") == (False, None)  # the least recently used went first
    assert cache.get("token-c") == (True, "carol")
    now[0] = 10.0
    assert cache.get("token-a") == (False, None)  # expired
    cache.put("token-d", "dave", ttl=0)  # token_cache_time = 0: never kept
    assert cache.get("token-d") == (False, None)
    assert not any("token" in key for key in cache._entries)  # hashes only
