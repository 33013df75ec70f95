"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright
with that system browser: Playwright's own browsers are never downloaded) against a real
`ostium serve` in token mode, with haproxy in namespaces and two backends.

A user logs in with a token, creates a load balancer, a listener, a pool, two members
and a health monitor through the forms (a wrong port first, to see Octavia's message
next to the field), watches it go ACTIVE, sends traffic and sees the charts move, kills
a backend and sees its member turn red (and the load balancer DEGRADED in the list),
brings it back and sees it green, and deletes everything. Screenshots of each page go
to `var/screenshots/` (the path is printed).

Own networks: VIP 198.19.40.0/24 (`ostt-dvip0`), members 198.19.41.0/24 (`ostt-dback0`)
with backends `ostt-d1`, `ostt-d2`.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import OSTIUM, REPO, Backends, Load, Net, Ostium, free_port, get
from playwright import sync_api
from playwright.sync_api import expect

VIP = Net("ostt-dvip", "198.19.40.0/24", "ostt-dvip0", "ostt-dvip-subnet")
BACK = Net("ostt-dback", "198.19.41.0/24", "ostt-dback0", "ostt-dback-subnet")
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("OSTIUM_SCREENSHOTS", REPO / "var" / "screenshots"))
WAIT = 60_000  # ms: an upper bound for a change to show, never an assertion on time


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(BACK, prefix="ostt-d", count=2) as b:
        yield b


@pytest.fixture(scope="module")
def ostium(backends: Backends) -> Iterator[tuple[Ostium, str]]:
    o = Ostium([VIP, BACK], name_prefix="ostt")
    with o.config.open("a") as f:
        f.write("[api_settings]\nauth_strategy = token\n")
        f.write(f"[amphora_agent]\nlog_receiver_port = {free_port(socket.SOCK_DGRAM)}\n")
    left: list[str] = []
    try:
        o.start("serve")
        token = subprocess.run(
            [
                *OSTIUM,
                *("token", "create", "--project", "p1", "--role", "admin"),
                *("--state-dir", str(o.state_dir), "--config-file", str(o.config)),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        ).stdout.strip()
        o.api.http.headers["X-Auth-Token"] = token
        yield o, token
    finally:
        left = o.shutdown()
        o.remove_workdir()
    assert left == [], f"ostium left things behind: {left}"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def _shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    print(f"screenshot: {path}")


def _lb_active(page: object) -> None:
    expect(page.locator("#lb-status")).to_have_attribute(  # type: ignore[attr-defined]
        "data-provisioning", "ACTIVE", timeout=WAIT
    )


def _open_form(page: object, kind: str) -> object:
    page.click(f'button[data-new="{kind}"]')  # type: ignore[attr-defined]
    form = page.locator(f'#panel form[data-form="{kind}"]')  # type: ignore[attr-defined]
    expect(form).to_be_visible()
    return form


def _create(page: object, kind: str, fields: dict[str, str], selects: dict[str, str]) -> None:
    _lb_active(page)
    form = _open_form(page, kind)
    for name, value in fields.items():
        form.locator(f'[name="{name}"]').fill(value)  # type: ignore[attr-defined]
    for name, label in selects.items():
        form.locator(f'select[name="{name}"]').select_option(label=label)  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        form.locator("button[type=submit]").click()  # type: ignore[attr-defined]


def _member(page: object, name: str) -> object:
    return page.locator(f'.node[data-kind="member"][data-name="{name}"]')  # type: ignore[attr-defined]


def _colour(locator: object) -> tuple[int, int, int]:
    css = locator.evaluate("e => getComputedStyle(e).backgroundColor")  # type: ignore[attr-defined]
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return r, g, b


def test_dashboard_in_a_browser(
    ostium: tuple[Ostium, str], backends: Backends, browser: object
) -> None:
    o, token = ostium
    page = browser.new_page(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: dialog.accept())
    base = o.url + "/dashboard"

    # log in
    page.goto(base)
    expect(page).to_have_url(base + "/login")
    page.fill("#login-token", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not accepted")
    _shot(page, "01-login")
    page.fill("#login-token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(base)
    expect(page.locator(".empty")).to_be_visible()

    # a load balancer through the list page's form
    form = page.locator('form[data-form="loadbalancer"]')
    form.locator('[name="name"]').fill("web")
    form.locator('[name="description"]').fill("shop front")
    form.locator('select[name="vip_subnet_id"]').select_option(
        label=f"{VIP.subnet_name} ({VIP.cidr})"
    )
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    _lb_active(page)
    lb_url = page.url
    lb_id = lb_url.rsplit("/", 1)[1]

    # Octavia's message next to the field, then the listener
    form = _open_form(page, "listener")
    form.locator('[name="name"]').fill("http")
    form.locator('select[name="protocol"]').select_option("HTTP")
    form.locator('[name="protocol_port"]').fill("70000")
    form.locator("button[type=submit]").click()
    error = page.locator('#panel .field-error[data-field="protocol_port"]')
    expect(error).to_contain_text("Invalid input for field/attribute protocol_port")
    _shot(page, "02-validation")
    form = page.locator('#panel form[data-form="listener"]')
    form.locator('[name="protocol_port"]').fill("80")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()

    _create(
        page,
        "pool",
        {"name": "app"},
        {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "listener_id": "http"},
    )
    for i in (1, 2):
        fields = {"name": f"m{i}", "address": backends.address(i), "protocol_port": "8080"}
        _create(page, "member", fields, {"pool_id": "app"})
    _create(
        page,
        "healthmonitor",
        {"delay": "1", "timeout": "1", "max_retries": "1", "url_path": "/"},
        {"pool_id": "app", "type": "HTTP"},
    )
    _lb_active(page)
    for name in ("m1", "m2"):
        expect(_member(page, name)).to_have_attribute("data-operating", "ONLINE", timeout=WAIT)
    green = _colour(_member(page, "m1").locator(".dot"))
    assert green[1] > green[0] and green[1] > green[2], green
    expect(page.locator("#lb-status")).to_have_attribute("data-operating", "ONLINE", timeout=WAIT)

    # traffic moves the charts
    vip = o.api.lb(lb_id)["vip_address"]  # type: ignore[index]
    with Load(vip, threads=2) as load:
        page.wait_for_function(
            "() => Number(document.getElementById('chart-conn').dataset.peak) > 0"
            " && Number(document.getElementById('chart-out').dataset.peak) > 0",
            timeout=WAIT,
        )
        log_line = page.locator("#access-log .line").first
        expect(log_line).to_contain_text('"GET / HTTP/1.1" 200', timeout=WAIT)
        _shot(page, "03-loadbalancer")
    assert load.ok > 0
    points = page.locator("#chart-conn polyline").get_attribute("points") or ""
    assert len(points.split()) >= 2

    # a backend dies: its member turns red, the load balancer DEGRADED in the list too
    backends.stop(1)
    try:
        expect(_member(page, "m1")).to_have_attribute("data-operating", "ERROR", timeout=WAIT)
        red = _colour(_member(page, "m1").locator(".dot"))
        assert red[0] > red[1] and red[0] > red[2], red
        expect(_member(page, "m2")).to_have_attribute("data-operating", "ONLINE")
        expect(page.locator("#lb-status")).to_have_attribute(
            "data-operating", "DEGRADED", timeout=WAIT
        )
        _shot(page, "04-member-down")
        page.goto(base)
        row = page.locator(f'tr.lb-row[data-id="{lb_id}"]')
        expect(row.locator('[data-status="DEGRADED"]')).to_be_visible(timeout=WAIT)
        _shot(page, "05-list")
    finally:
        backends.start(1)
    page.goto(lb_url)
    expect(_member(page, "m1")).to_have_attribute("data-operating", "ONLINE", timeout=WAIT)
    green = _colour(_member(page, "m1").locator(".dot"))
    assert green[1] > green[0], green

    # delete the whole load balancer from its node in the tree
    with page.expect_navigation():
        page.click(f'button[data-delete="{lb_id}"]')
    expect(page).to_have_url(base)
    expect(page.locator(f'tr.lb-row[data-id="{lb_id}"]')).to_have_count(0, timeout=WAIT)
    assert o.api.lb(lb_id) is None
    page.close()


def test_logs_follow_shows_a_request_through_the_vip(
    ostium: tuple[Ostium, str], backends: Backends
) -> None:
    """`ostium logs LB --follow` prints the access log line of a request sent through
    the VIP after it started: Octavia's default format, project and load balancer first,
    the HTTP request line and status in it."""
    o, token = ostium
    subnet = o.api.subnet_id(VIP.subnet_name)
    lb = o.api.create_lb(
        subnet,
        name="logged",
        listeners=[
            {
                "protocol": "HTTP",
                "protocol_port": 80,
                "default_pool": {
                    "name": "logged-pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": backends.address(2), "protocol_port": 8080}],
                },
            }
        ],
    )
    follow = subprocess.Popen(
        [*OSTIUM, "logs", "logged", "--follow", "--url", o.url, "--token", token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        status, body, _ = get(lb["vip_address"], path="/followed-path")
        assert status == 200 and body == backends.name(2)
        ready, _, _ = select.select([follow.stdout], [], [], WAIT / 1000)
        assert ready, f"no line from ostium logs --follow: {follow.stderr}"
        line = follow.stdout.readline()  # type: ignore[union-attr]
        words = line.split()
        assert words[:2] == ["p1", lb["id"]], line
        assert '"GET /followed-path HTTP/1.1"' in line and " 200 " in line, line
    finally:
        follow.terminate()
        follow.communicate(timeout=10)  # and closes the pipes
        o.api.delete_lb(lb["id"])
