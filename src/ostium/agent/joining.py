"""The agent's command-line side of enrollment: `--join URL --token T` and friends.

Role: add the join options to the agent's parser and, before the agent starts, fill in
its certificate, key, CA, heartbeat key file and controllers, either from a join made
now (`enrolling.join`) or from one made earlier in the same state directory. Callers:
`main`. Prints one line and returns False when the agent cannot start (no traceback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ostium.agent.enrolling import Enrolled, JoinRefused, host_identity, join

LOG = logging.getLogger(__name__)


def join_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--join", metavar="URL", help="join the ostium API at URL (once per host)")
    p.add_argument("--token", help="the one-time token `ostium host add` printed")
    p.add_argument("--token-file", help="a file holding the token (kept out of `ps`)")
    p.add_argument("--join-ca", help="CA bundle to verify the API's HTTPS certificate")
    p.add_argument(
        "--advertise-url",
        help="https://HOST:PORT controllers reach this agent at (default: --bind)",
    )
    p.add_argument(
        "--address", action="append", default=[], help="another name or address for its certificate"
    )
    p.add_argument(
        "--network", action="append", help="a declared network this host has (repeat; default: all)"
    )
    p.add_argument("--capacity", type=int, help="amphorae this host may hold")


def _fail(message: str) -> bool:
    print(f"ostium agent: {message}", file=sys.stderr)
    return False


def credentials(args: argparse.Namespace) -> bool:
    """Fill `args.cert/key/ca` (and the heartbeat options) from a join; False if the
    agent cannot start."""
    state_dir = Path(args.state_dir)
    if args.join:
        token = args.token
        if args.token_file:
            token = Path(args.token_file).read_text().strip()
        if not token:
            return _fail("--join needs --token or --token-file")
        bind_host, _, port = args.bind.rpartition(":")
        url = args.advertise_url or f"https://{bind_host}:{port}"
        names, addresses = host_identity(bind_host, args.address)
        try:
            enrolled = join(
                args.join,
                token,
                state_dir,
                url,
                names,
                addresses,
                verify=args.join_ca or True,
                networks=args.network,
                capacity=args.capacity,
            )
        except JoinRefused as exc:
            return _fail(str(exc))
        LOG.info("joined %s as %s", args.join, url)
    else:
        found = Enrolled.load(state_dir)
        if args.cert and args.key and args.ca:
            return True
        if found is None:
            return _fail("give --cert, --key and --ca, or --join URL --token T")
        enrolled = found
    args.cert, args.key, args.ca = str(enrolled.cert), str(enrolled.key), str(enrolled.ca)
    if not args.controller_ip_port_list:
        args.controller_ip_port_list = enrolled.controller_ip_port_list
        args.heartbeat_key_file = str(enrolled.heartbeat_key)
        args.heartbeat_interval = enrolled.heartbeat_interval
    return True
