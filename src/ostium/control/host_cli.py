"""`ostium host add|list|drain|activate|remove`: hosts from the command line.

Role: the operator's side of enrollment, on the controller's machine (same database and
state directory as `ostium serve`). `add` prints the one-time enrollment token and the
`ostium agent --join` line to run on the new host; the token is shown this once and
stored only as a hash. Callers: `cli` (which registers these subcommands). The rules
are `services/hosts`'; a change made here reaches a running worker through the database.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ostium.control.cli_support import database_command
from ostium.control.settings import Settings


def register(
    sub: Any,
    common: Callable[[argparse.ArgumentParser], None],
    settings: Callable[[argparse.Namespace], Settings],
    prepare: Callable[[Settings], Any],
) -> None:
    h = sub.add_parser("host", help="hosts running agents: add (enrollment token), list, drain")
    hsub = h.add_subparsers(dest="host_command", required=True)
    add = hsub.add_parser("add", help="add a host and print its one-time enrollment token")
    common(add)
    add.add_argument("name", help="the host's name (also a name in its certificate)")
    add.add_argument("--zone", help="availability zone (host group) it belongs to")
    add.add_argument("--capacity", type=int, default=1000, help="amphorae it may hold")
    add.add_argument(
        "--network", action="append", help="a declared network it has (repeat; default: all)"
    )
    ls = hsub.add_parser("list", help="the hosts, their state and their amphorae (JSON)")
    common(ls)
    for verb, text in (
        ("drain", "no new amphorae on the host; fail its amphorae over to other hosts"),
        ("activate", "place amphorae on the host again"),
        ("remove", "forget a host that holds no amphora"),
    ):
        p = hsub.add_parser(verb, help=text)
        common(p)
        p.add_argument("name", help="the host's name or id")

    def _dispatch(args: argparse.Namespace, s: Settings, db: Any) -> int:
        from ostium.control.identity.context import RequestContext
        from ostium.control.services import hosts
        from ostium.control.services.context import ServiceContext
        from ostium.model.enums import HostState

        if args.host_command == "add":
            view, token = hosts.add(
                db, s, args.name, zone=args.zone, capacity=args.capacity, networks=args.network
            )
            print(f"host {view['name']} added ({view['id']}); enrollment token (shown once):")
            print(token)
            print(
                f"on the host: ostium agent --join http(s)://<this API>:{s.api.bind_port} "
                "--token <token> --bind <its address>:9443"
            )
            return 0
        if args.host_command == "list":
            print(json.dumps(hosts.listing(db), indent=2))
            return 0
        if args.host_command == "remove":
            hosts.remove(db, args.name)
            return 0
        admin = RequestContext(project_id=None, roles=frozenset({"admin"}), noauth=False)
        svc = ServiceContext(db=db, settings=s, wake=lambda: None)
        state = HostState.DRAINING if args.host_command == "drain" else HostState.ACTIVE
        print(json.dumps(hosts.set_state(svc, admin, args.name, state), indent=2))
        return 0

    run = database_command(
        settings, prepare, _dispatch, lambda args: f"ostium host {args.host_command}"
    )
    h.set_defaults(func=run)
    for p in hsub.choices.values():
        p.set_defaults(func=run)
