"""`ostium identity ...`: the built-in Keystone from the command line.

    bootstrap      the Default domain, the standard roles, an admin project and user;
                   the admin password is printed once (or written to a mode-0600 file)
    project create / user create / role add / role list
    clouds-yaml    a clouds.yaml entry for openstacksdk, the openstack CLI, Ansible

`ostium serve` with `auth_strategy = keystone` bootstraps on its first start and writes
the password to `<state_dir>/admin-password` (mode 0600); it never logs it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ostium.control.cli_support import Command, database_command
from ostium.control.settings import Settings

ADMIN_PASSWORD_FILE = "admin-password"


def write_secret(path: Path, secret: str) -> None:
    """Write `secret` to `path` with mode 0600 from the start (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    os.chmod(path, 0o600)


def first_start(settings: Settings, db: Any) -> Path | None:
    """Bootstrap an empty identity store; the file holding the new admin password."""
    from sqlalchemy.exc import IntegrityError

    from ostium.control.identity.keystone.bootstrap import bootstrap, is_bootstrapped

    if is_bootstrapped(db):
        return None
    try:
        done = bootstrap(db, settings.identity)
    except IntegrityError:  # another api process bootstrapped the same database first
        return None
    if done.password is None:  # the admin appeared in between (another process)
        return None
    path = settings.state_dir / ADMIN_PASSWORD_FILE
    write_secret(path, done.password)
    return path


def register(
    sub: Any,
    common: Callable[[argparse.ArgumentParser], None],
    settings: Callable[[argparse.Namespace], Settings],
    prepare: Callable[[Settings], Any],
) -> None:
    def run(fn: Command) -> Callable[[argparse.Namespace], int]:
        return database_command(settings, prepare, fn, lambda _: "ostium identity")

    i = sub.add_parser("identity", help="users, projects and roles of the built-in Keystone")
    isub = i.add_subparsers(dest="identity_command", required=True)

    b = isub.add_parser("bootstrap", help="create the admin user (password shown once)")
    common(b)
    b.add_argument("--username", default="admin")
    b.add_argument("--project", default="admin")
    b.add_argument("--password-file", help="write the password here (mode 0600), not stdout")
    b.add_argument(
        "--reset-password", action="store_true", help="new password for an existing admin"
    )
    b.set_defaults(func=run(_bootstrap))

    p = isub.add_parser("project", help="projects")
    psub = p.add_subparsers(dest="project_command", required=True)
    pc = psub.add_parser("create", help="create a project and print its id")
    common(pc)
    pc.add_argument("name")
    pc.add_argument("--description", default="")
    pc.set_defaults(func=run(_project_create))

    u = isub.add_parser("user", help="users")
    usub = u.add_subparsers(dest="user_command", required=True)
    uc = usub.add_parser("create", help="create a user and print its id")
    common(uc)
    uc.add_argument("name")
    uc.add_argument("--project", help="default project (name or id)")
    uc.add_argument("--password-file", help="read the password from this file")
    uc.add_argument("--password", help="the password (visible in the process list: prefer a file)")
    uc.set_defaults(func=run(_user_create))

    r = isub.add_parser("role", help="roles")
    rsub = r.add_subparsers(dest="role_command", required=True)
    rc = rsub.add_parser("create", help="create a role")
    common(rc)
    rc.add_argument("name")
    rc.set_defaults(func=run(_role_create))
    ra = rsub.add_parser("add", help="give a user a role on a project")
    common(ra)
    ra.add_argument("role")
    ra.add_argument("--user", required=True)
    ra.add_argument("--project", required=True)
    ra.set_defaults(func=run(_role_add))

    c = isub.add_parser("clouds-yaml", help="print a clouds.yaml for this ostium")
    common(c)
    c.add_argument("--cloud", default="ostium", help="the cloud's name in clouds.yaml")
    c.add_argument("--url", help="ostium's base URL (default: from the bind address)")
    c.add_argument("--username", default="admin")
    c.add_argument("--project", default="admin")
    c.add_argument("--password-file", help="default for admin: <state_dir>/admin-password")
    c.set_defaults(func=run(_clouds_yaml))


def _bootstrap(args: argparse.Namespace, settings: Settings, db: Any) -> int:
    from ostium.control.identity.keystone.bootstrap import bootstrap

    done = bootstrap(
        db, settings.identity, args.username, args.project, reset_password=args.reset_password
    )
    if done.password is None:
        print(f"user {args.username} exists; its password is unchanged (--reset-password)")
    elif args.password_file:
        write_secret(Path(args.password_file), done.password)
        print(f"password of {args.username} written to {args.password_file}")
    else:
        print(done.password)
    return 0


def _project_id(s: Any, name_or_id: str) -> str:
    from ostium.control.db.identity_rows import IdentityProject
    from ostium.control.identity.keystone import store
    from ostium.control.identity.keystone.errors import NotFound

    row = s.get(IdentityProject, name_or_id) or store.project_by_name(
        s, name_or_id, store.DEFAULT_DOMAIN
    )
    if row is None:
        raise NotFound("project", name_or_id)
    return str(row.id)


def _user_id(s: Any, name_or_id: str) -> str:
    from ostium.control.db.identity_rows import IdentityUser
    from ostium.control.identity.keystone import store
    from ostium.control.identity.keystone.errors import NotFound

    row = s.get(IdentityUser, name_or_id) or store.user_by_name(s, name_or_id, store.DEFAULT_DOMAIN)
    if row is None:
        raise NotFound("user", name_or_id)
    return str(row.id)


def _project_create(args: argparse.Namespace, settings: Settings, db: Any) -> int:
    from ostium.control.identity.keystone import store

    with db.write() as s:
        store.ensure_default_domain(s)
        print(store.create_project(s, args.name, description=args.description).id)
    return 0


def _user_create(args: argparse.Namespace, settings: Settings, db: Any) -> int:
    from ostium.control.identity.keystone import store

    password = args.password
    if args.password_file:
        password = Path(args.password_file).read_text().rstrip("\n")
    with db.write() as s:
        store.ensure_default_domain(s)
        project = _project_id(s, args.project) if args.project else None
        row = store.create_user(
            s, args.name, password, settings.identity, default_project_id=project
        )
        print(row.id)
    return 0


def _role_create(args: argparse.Namespace, settings: Settings, db: Any) -> int:
    from ostium.control.identity.keystone import store

    with db.write() as s:
        print(store.create_role(s, args.name).id)
    return 0


def _role_add(args: argparse.Namespace, settings: Settings, db: Any) -> int:
    from ostium.control.identity.keystone import store

    with db.write() as s:
        role = store.role_ref(s, args.role)
        store.grant(s, _user_id(s, args.user), _project_id(s, args.project), role.id)
    return 0


def _clouds_yaml(args: argparse.Namespace, settings: Settings, db: Any) -> int:
    url = args.url or f"http://{settings.api.bind_host}:{settings.api.bind_port}"
    password_file = args.password_file
    if password_file is None and args.username == "admin":
        password_file = str(settings.state_dir / ADMIN_PASSWORD_FILE)
    password = Path(password_file).read_text().strip() if password_file else None
    auth: dict[str, Any] = {
        "auth_url": url.rstrip("/") + "/v3",
        "username": args.username,
        "project_name": args.project,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    if password is not None:
        auth["password"] = password
    cloud = {
        "auth": auth,
        "region_name": settings.identity.region_name,
        "interface": "public",
        "identity_api_version": 3,
    }
    # JSON is YAML: every YAML reader (openstacksdk, Ansible) takes it as is.
    print(json.dumps({"clouds": {args.cloud: cloud}}, indent=2))
    return 0
