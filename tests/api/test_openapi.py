"""The OpenAPI document (`/openapi.json`) and its page (`/docs`), as a client sees them:
served without a token, listing every route the app serves once, request bodies under
the root key the API expects; and schemathesis, driven by the document, never gets a 5xx
nor an undocumented status code."""

from __future__ import annotations

import re
from typing import Any

import hypothesis
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ostium.control.api.openapi import routes
from tests.api.conftest import Api

METHODS = ("get", "post", "put", "delete")


def _doc(api: Api) -> dict[str, Any]:
    r = api.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return dict(r.json())


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    ]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def _fill(path: str) -> str:
    return re.sub(r"{\w+}", "00000000-0000-0000-0000-000000000000", path)


# ---- served, and without a token -----------------------------------------------------


def test_document_and_page_need_no_token(token_api: Api) -> None:
    assert token_api.get("/v2/lbaas/loadbalancers").status_code == 401
    doc = _doc(token_api)
    assert doc["openapi"].startswith("3.")
    assert "/v2.0" in doc["info"]["description"]
    page = token_api.get("/docs", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


def test_page_works_offline_and_lists_every_path(api: Api) -> None:
    doc = _doc(api)
    page = api.get("/docs").text
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "loads nothing remote"
    for path in doc["paths"]:
        assert f"<code>{path}</code>" in page


def test_v2_0_and_json_suffix_are_not_listed_twice(api: Api) -> None:
    paths = list(_doc(api)["paths"])
    assert not [p for p in paths if p.startswith("/v2.0") or p.endswith(".json")]
    assert len(paths) == len(set(paths))


# ---- complete ---------------------------------------------------------------------------


def test_document_lists_every_route_the_app_serves(api: Api) -> None:
    doc = _doc(api)
    documented = {(m.upper(), p) for m, p, _ in _operations(doc)}
    served = set()
    hidden = set()
    for route in routes(api.client.app.app):
        for method in route.methods:
            (served if route.include_in_schema else hidden).add((method, route.path))
    assert documented == served
    pages = {h for h in hidden if h[1].startswith("/dashboard")}  # HTML for browsers
    # The key-manager API (/v1, Barbican's) is not part of the Octavia document.
    keymanager = {h for h in hidden if h[1].startswith("/v1")}
    assert hidden - pages - keymanager == {("GET", "/openapi"), ("GET", "/docs")}


def test_every_documented_operation_is_routed(api: Api) -> None:
    """A request to each documented path and method reaches a handler: never the
    router's own 404/405 (webob shape, empty description)."""
    for method, path, _ in _operations(_doc(api)):
        if method == "delete" or (method, path) == ("put", "/v2/lbaas/quotas/{project_id}"):
            continue  # reached below without side effects; a 404/400 from a handler
        r = api.req(method.upper(), _fill(path), b"{}" if method in ("post", "put") else None)
        routed_miss = r.status_code in (404, 405) and "faultstring" not in r.text
        assert not routed_miss, (method, path, r.status_code, r.text)


def test_every_ref_resolves_to_a_component(api: Api) -> None:
    doc = _doc(api)
    refs = re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', api.get("/openapi.json").text)
    assert refs
    missing = sorted({r for r in refs if r not in doc["components"]["schemas"]})
    assert not missing


# ---- bodies under the root key the API expects ------------------------------------------


def test_each_body_has_the_root_key_the_api_expects(api: Api) -> None:
    """For every operation with a body, the document's single root key is the one the
    API parses: under it, the body reaches the model (the 400 names an attribute of the
    model); under another key, it is refused at the root."""
    doc = _doc(api)
    bodies = [(m, p, op) for m, p, op in _operations(doc) if "requestBody" in op]
    assert len(bodies) >= 24  # create and update of 11 resources, quota, member batch
    for method, path, op in bodies:
        schema = _resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
        assert schema["additionalProperties"] is False
        assert len(schema["properties"]) == 1
        (root,) = schema["properties"]
        assert schema["required"] == [root]
        inner = _resolve(doc, schema["properties"][root])
        if inner.get("type") == "array":  # the member batch: {"members": [member, ...]}
            payload: Any = [{"not_a_field": 1}]
            inner = _resolve(doc, inner["items"])
        else:
            payload = {"not_a_field": 1}
        assert inner["additionalProperties"] is False
        assert "not_a_field" not in inner["properties"]
        url = _fill(path)
        r = api.req(method.upper(), url, {root: payload})
        assert r.status_code == 400, (method, path, r.text)
        message = r.json()["faultstring"]
        missing = [f"{f}. Value: 'None'. Mandatory" for f in inner.get("required", [])]
        assert "not_a_field" in message or any(m in message for m in missing), (method, path)
        r = api.req(method.upper(), url, {f"x{root}": payload})
        assert r.status_code == 400, (method, path, r.text)
        at_root = (
            rf"Unknown attribute for argument \w+: x{root}"
            rf"|Invalid input for field/attribute {root}\. Value: 'None'\. Mandatory field missing."
        )
        assert re.fullmatch(at_root, r.json()["faultstring"]), (method, path, r.text)
        ok = [c for c in op["responses"] if c.startswith("2")]
        assert len(ok) == 1
        answer = op["responses"][ok[0]].get("content")
        if answer:  # the object comes back under the same root
            assert list(answer["application/json"]["schema"]["properties"]) == [root]


def test_create_and_update_bodies_are_the_validating_models(api: Api) -> None:
    doc = _doc(api)
    expected = {
        ("post", "/v2/lbaas/loadbalancers"): ("loadbalancer", "LoadBalancerCreate"),
        ("put", "/v2/lbaas/loadbalancers/{lb_id}"): ("loadbalancer", "LoadBalancerUpdate"),
        ("post", "/v2/lbaas/listeners"): ("listener", "ListenerCreate"),
        ("post", "/v2/lbaas/pools/{parent_id}/members"): ("member", "MemberCreate"),
        ("put", "/v2/lbaas/l7policies/{parent_id}/rules/{obj_id}"): ("rule", "L7RuleUpdate"),
        ("put", "/v2/lbaas/quotas/{project_id}"): ("quota", "QuotaUpdate"),
        ("post", "/v2/lbaas/availabilityzoneprofiles"): (
            "availability_zone_profile",
            "AvailabilityZoneProfileCreate",
        ),
    }
    for (method, path), (root, model) in expected.items():
        body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert body["schema"]["properties"][root] == {"$ref": f"#/components/schemas/{model}"}


# ---- schemathesis -----------------------------------------------------------------------
#
# Driven through its Python API (`as_strategy`) rather than its pytest plugin: the
# plugin's lazy loader (`schemathesis.pytest.from_fixture`, needed because the app is a
# fixture here) reads a private attribute that pytest 9 no longer has.

# Every operation of the Octavia API except the deletes (they would destroy the objects
# the other operations are given) and the discovery routes (no input).
_FUZZED = r"^/v2/(lbaas|octavia)/"
_EXAMPLES = 5  # per operation, mode and kind of path parameter; ~40 operations
_LAST = ("/failover", "/config", "/members")  # failovers, the member batch (replaces all)
_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _real_ids(api: Api) -> dict[str, str]:
    """One object of each kind, ACTIVE, so that fuzzed bodies reach the services."""
    ids = {k: v["id"] for k, v in api.stack().items()}
    pool = f"/v2/lbaas/pools/{ids['pool']}"
    ids["member"] = api.child(
        f"{pool}/members", "member", {"address": "192.0.2.10", "protocol_port": 80}
    )["id"]
    ids["healthmonitor"] = api.child(
        "/v2/lbaas/healthmonitors",
        "healthmonitor",
        {"pool_id": ids["pool"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3},
    )["id"]
    ids["l7policy"] = api.child(
        "/v2/lbaas/l7policies",
        "l7policy",
        {"listener_id": ids["listener"], "action": "REJECT"},
    )["id"]
    ids["rule"] = api.child(
        f"/v2/lbaas/l7policies/{ids['l7policy']}/rules",
        "rule",
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"},
    )["id"]
    amphorae = api.get("/v2/octavia/amphorae").json()["amphorae"]
    ids["amphora"] = amphorae[0]["id"]
    return ids


def _path_parameters(path: str, ids: dict[str, str]) -> dict[str, str]:
    """Real ids for the parameters of `path` (`/v2/lbaas/pools/{parent_id}/members/...`)."""
    out: dict[str, str] = {}
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if not seg.startswith("{"):
            continue
        name = seg.strip("{}")
        kind = segments[i - 1].removesuffix("s") if i else ""
        kind = {"loadbalancer": "lb", "amphorae": "amphora", "l7policie": "l7policy"}.get(
            kind, kind
        )
        if name == "project_id":
            out[name] = "fuzz-project"
        elif name == "provider":
            out[name] = "amphora"
        elif kind in ids:
            out[name] = ids[kind]
    return out


def test_schemathesis_finds_no_server_error(api: Api) -> None:
    """Every GET/POST/PUT of the Octavia API, with bodies and parameters generated from
    the document (valid and invalid), on random ids and on real ACTIVE objects: no 5xx,
    only documented status codes and content types, bodies that match the document."""
    ids = _real_ids(api)
    config = schemathesis.Config.from_dict({"generation": {"max-examples": _EXAMPLES}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app, config=config)
    schema = schema.include(path_regex=_FUZZED).exclude(method="DELETE")
    # Those that replace or remove the objects the others are given run last.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (op.method == "put" and op.path.endswith(_LAST), op.label),
    )
    assert len(operations) >= 35
    failures: list[str] = []
    for operation in operations:
        real = _path_parameters(operation.path, ids)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [operation.as_strategy(mode)]
            if real and mode is GenerationMode.POSITIVE:
                strategies.append(operation.as_strategy(mode, path_parameters=real))
            for strategy in strategies:
                try:
                    _run(api, strategy)
                except hypothesis.errors.Unsatisfiable:
                    # Nothing of this operation can be made invalid (a GET whose only
                    # parameters are free strings): its positive run covered it.
                    assert mode is GenerationMode.NEGATIVE, operation.label
                except (Exception, FailureGroup) as exc:  # all operations run; all failures shown
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


def _run(api: Api, strategy: Any) -> None:
    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    def run(case: Any) -> None:
        try:
            case.call_and_validate(checks=_CHECKS)
        finally:
            api.settle()  # a change that was accepted finishes before the next one

    run()
