"""Per-step timing: steps recorded only inside a recording, carried in Server-Timing."""

from __future__ import annotations

from ostium.model import timing


def test_steps_recorded_only_while_recording() -> None:
    with timing.phase("outside"):
        pass
    with timing.recording() as steps:
        with timing.phase("check"):
            pass
        with timing.phase("check"):
            pass
        with timing.phase("reload"):
            pass
    assert list(steps.seconds) == ["check", "reload"]
    assert timing.current() is None
    assert "check=" in steps.describe() and "reload=" in steps.describe()


def test_server_timing_round_trip() -> None:
    steps = timing.Phases()
    steps.add("render", 0.0012)
    steps.add("check", 0.02)
    header = timing.server_timing(steps)
    assert header == "render;dur=1.20, check;dur=20.00"
    parsed = timing.parse_server_timing(header, "agent.")
    assert parsed == {"agent.render": 0.0012, "agent.check": 0.02}
    assert timing.parse_server_timing("junk, x;dur=abc, ;dur=1") == {}
