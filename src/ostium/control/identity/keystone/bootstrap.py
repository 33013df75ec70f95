"""The first admin: the `Default` domain, the standard roles, an `admin` project and an
`admin` user holding the `admin` role there. Its password is random unless the operator
gives one, and is shown once (printed or written to a mode-0600 file by the CLI): there
is no default password. Running it again only adds what is missing and never changes
an existing password unless asked to.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostium.control.db.engine import Database
from ostium.control.identity.keystone import store
from ostium.control.identity.keystone.passwords import new_password
from ostium.control.settings_keystone import IdentitySettings


@dataclass(frozen=True)
class Bootstrapped:
    user_id: str
    project_id: str
    password: str | None
    """The new password, or None when the user existed and kept its own."""


def bootstrap(
    db: Database,
    cost: IdentitySettings,
    username: str = "admin",
    project_name: str = "admin",
    password: str | None = None,
    reset_password: bool = False,
) -> Bootstrapped:
    with db.write() as s:
        store.ensure_default_domain(s)
        for name in store.STANDARD_ROLES:
            store.ensure_role(s, name)
        proj = store.project_by_name(s, project_name, store.DEFAULT_DOMAIN) or (
            store.create_project(s, project_name, description="Bootstrap project")
        )
        user = store.user_by_name(s, username, store.DEFAULT_DOMAIN)
        shown: str | None = None
        if user is None:
            shown = password or new_password()
            user = store.create_user(s, username, shown, cost, default_project_id=proj.id)
        elif reset_password or password is not None:
            shown = password or new_password()
            store.set_password(s, user.id, shown, cost)
        admin = store.role_by_name(s, "admin")
        assert admin is not None
        store.grant(s, user.id, proj.id, admin.id)
        return Bootstrapped(user_id=user.id, project_id=proj.id, password=shown)


def is_bootstrapped(db: Database) -> bool:
    with db.read() as s:
        return bool(store.users(s))
