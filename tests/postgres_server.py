"""A throwaway PostgreSQL server for the database tests: initdb + pg_ctl on a temp dir and a free port.

    python tests/postgres_server.py start DIR   -> prints the SQLAlchemy URL (postgresql+psycopg://...)
    python tests/postgres_server.py stop DIR

Used by .ci/run (which installs Debian's `postgresql` package when absent) and, when PAYLAB_TEST_POSTGRES_URL is
unset, by the tests' own fixture. The server refuses to run as root: as root, the data directory belongs to the
`postgres` user (created by the Debian package) and the binaries run as that user via runuser.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

DB, USER = "paylab", "paylab"


def find_bin(name: str) -> str | None:
    """`name` from the newest /usr/lib/postgresql/<v>/bin, else from PATH."""
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4])
                      if p.split("/")[4].isdigit() else 0)
    return versions[-1] if versions else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and no `postgres` user to run the server as") from None
    return ["runuser", "-u", "postgres", "--", *cmd]


def start(folder: Path) -> str:
    """Init and start a server in `folder`; returns its URL. Raises RuntimeError (with the reason) when it cannot."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install -y postgresql")
    folder = Path(folder).resolve()
    data, sock = folder / "data", folder / "sock"
    data.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for p in (folder, data, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    run = dict(capture_output=True, text=True, timeout=120)
    out = subprocess.run(_as_server_user([initdb, "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"]), **run)
    if out.returncode:
        raise RuntimeError(f"initdb failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}")
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    out = subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", opts,
                                          "-w", "start"]), **run)
    if out.returncode:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else out.stderr
        raise RuntimeError(f"pg_ctl start failed: {log.strip().splitlines()[-1:]}")
    (folder / "port").write_text(str(port))
    createdb = find_bin("createdb")
    out = subprocess.run(_as_server_user([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", USER, DB]), **run)
    if out.returncode:
        stop(folder)
        raise RuntimeError(f"createdb failed: {out.stderr.strip()}")
    return f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DB}"


def stop(folder: Path) -> None:
    """Stop the server of `folder` (fast shutdown); nothing when none runs there."""
    data = Path(folder).resolve() / "data"
    pg_ctl = find_bin("pg_ctl")
    if pg_ctl and (data / "postmaster.pid").exists():
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True,
                       timeout=60)


if __name__ == "__main__":
    action, where = sys.argv[1], Path(sys.argv[2])
    if action == "start":
        try:
            print(start(where))
        except RuntimeError as err:
            print(f"postgres_server: {err}", file=sys.stderr)
            sys.exit(1)
    else:
        stop(where)
