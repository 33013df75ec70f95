"""Secrets that people paste on command lines (enrollment tokens, API tokens, bootstrap
passwords, application credential secrets) never start with `-`: argparse would take
`--token -x...` for two options (CI met one such enrollment token in the hosts suite)."""

from __future__ import annotations

import secrets

import pytest

from ostium.model.tokens import new_secret


def test_no_secret_starts_with_a_dash() -> None:
    # With plain token_urlsafe one draw in 64 starts with "-": 4,000 draws find one.
    drawn = [new_secret(32) for _ in range(4000)]
    assert not [s for s in drawn if s.startswith("-")]
    assert len(set(drawn)) == len(drawn) and {len(s) for s in drawn} == {43}


def test_a_draw_that_starts_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["-starts-with-a-dash", "Fine-after-that"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(draws))
    assert new_secret(32) == "Fine-after-that"
