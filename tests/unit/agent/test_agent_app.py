"""The agent's apply route through its ASGI app: the answer, its Server-Timing steps and
its errors (the manager is a stand-in: the route is what is tested here)."""

from __future__ import annotations

from typing import Any

from agent_spec_factory import listener, member, pool, spec
from starlette.testclient import TestClient

from ostium.agent.app import create_app
from ostium.agent_client import AgentClient
from ostium.model import timing
from ostium.model.spec import AmphoraSpec, AmphoraState


class _Manager:
    def __init__(self) -> None:
        self.applied: list[AmphoraSpec] = []

    def apply(self, s: AmphoraSpec) -> AmphoraState:
        with timing.phase("runtime"):  # the route's recorder reaches the apply thread
            self.applied.append(s)
        return AmphoraState(
            amphora_id=s.amphora_id, namespace="amp-x", applied_generation=s.generation
        )


def _spec() -> AmphoraSpec:
    p = pool(members=[member()])
    return spec([listener(default_pool_id=p["id"])], [p])


def _client() -> tuple[TestClient, _Manager]:
    manager = _Manager()
    return TestClient(create_app(manager)), manager  # type: ignore[arg-type]


def test_apply_answers_the_state_and_the_steps_the_worker_logs() -> None:
    http, manager = _client()
    s = _spec()
    steps = timing.Phases()
    with http, timing.recording(steps):
        state = AgentClient(http).apply_spec(s)  # type: ignore[arg-type]
    assert state.applied_generation == s.generation and state.namespace == "amp-x"
    assert manager.applied == [s]
    assert {"agent", "agent.parse", "agent.runtime", "agent.other"} <= set(steps.seconds)


def test_a_body_that_is_not_a_spec_is_refused_with_the_fields_named() -> None:
    http, manager = _client()
    s = _spec()
    body: dict[str, Any] = s.model_dump(mode="json")
    body["generation"] = "soon"
    with http:
        r = http.put(f"/amphorae/{s.amphora_id}/spec", json=body)
        assert r.status_code == 422
        assert r.json()["error"] == "invalid_request"
        assert any(d.startswith("generation:") for d in r.json()["details"])
        r = http.put(f"/amphorae/{s.amphora_id}/spec", content=b"{not json")
        assert r.status_code == 422
        other = _spec()
        r = http.put(f"/amphorae/{other.amphora_id}/spec", content=s.model_dump_json())
        assert r.status_code == 400 and r.json()["error"] == "invalid_spec"
    assert manager.applied == []
