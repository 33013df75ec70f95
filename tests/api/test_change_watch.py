"""`db/change_watch`: the marker stays while nothing commits and moves on any commit,
by another connection of this process or by another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from sqlalchemy import text

from ostium.control.db.change_watch import watch_for
from ostium.control.db.engine import Database


def _commit_elsewhere(database: Database, name: str) -> None:
    script = (
        "import sys\n"
        "from sqlalchemy import text\n"
        "from ostium.control.db.engine import open_database\n"
        "db = open_database(sys.argv[1])\n"
        "with db.write() as s:\n"
        "    s.execute(text('UPDATE quota SET load_balancer = 7 WHERE project_id = :p'),"
        " {'p': sys.argv[2]})\n"
        "db.dispose()\n"
    )
    subprocess.run([sys.executable, "-c", script, database.url, name], check=True, timeout=60)


def test_marker_moves_on_every_commit_and_only_then(database: Database) -> None:
    watch = watch_for(database)
    assert watch is not None

    async def run() -> list[str | None]:
        seen = [await watch.marker(), await watch.marker()]
        with database.write() as s:
            s.execute(text("INSERT INTO quota (project_id, is_set) VALUES ('watch-test', false)"))
        seen.append(await watch.marker())
        seen += await asyncio.gather(*(watch.marker() for _ in range(5)))
        await asyncio.to_thread(_commit_elsewhere, database, "watch-test")
        seen.append(await watch.marker())
        return seen

    try:
        seen = asyncio.run(run())
    finally:
        watch.close()
        with database.write() as s:
            s.execute(text("DELETE FROM quota WHERE project_id = 'watch-test'"))
    assert None not in seen
    assert seen[2] != seen[1]  # a commit by another connection
    assert len(set(seen[3:8])) == 1  # requests waiting together share one answer
    assert seen[8] != seen[7]  # a commit by another process
    if database.is_sqlite:  # (a PostgreSQL server is shared: others commit meanwhile)
        assert seen[0] == seen[1] and seen[3] == seen[2]  # nothing committed
