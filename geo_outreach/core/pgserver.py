"""The embedded PostgreSQL + PostGIS + pgRouting cluster the project runs for itself.

The cluster lives in one data directory, listens on 127.0.0.1 only, keeps its socket in the data
directory when the path is short enough, and uses password (SCRAM) authentication with passwords
generated at initialisation and kept in a state file readable only by the cluster's owner.
Run as root, everything runs as an unprivileged OS user because PostgreSQL refuses root.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import URL

from geo_outreach.core.errors import DatabaseUnavailable

ADMIN_ROLE = "geo_outreach_admin"
APP_LOGIN = "geo_outreach"
APP_GROUP = "geo_outreach_app"  # privileges are granted to this group by the migrations
# Marks the WAL archiving settings in postgresql.conf (issue 16: point-in-time recovery).
ARCHIVE_MARK = "# geo-outreach: WAL archive"
# Streaming replicas (issue 16) connect as this role: replication only, no table privileges.
REPLICATION_ROLE = "geo_outreach_replication"
DATABASE = "geo_outreach"
STATE_FILE = "geo-outreach.json"
EXTENSIONS = ("postgis", "pgrouting")
# sun_path is 108 bytes on Linux; ".s.PGSQL.NNNNN" needs room too.
MAX_SOCKET_DIR = 90
# The server's own log must never hold row data (a failing row's DETAIL holds a visit's note):
# terse drops DETAIL/HINT/CONTEXT, and no statement or bound parameter is logged, even on error.
LOG_PRIVACY_MARK = "# geo-outreach: no row data in the server log"
LOG_PRIVACY = {
    "log_error_verbosity": "terse",
    "log_min_error_statement": "panic",
    "log_statement": "none",
    "log_min_duration_statement": "-1",
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
}


def find_bin_dir(explicit: Path | None = None) -> Path:
    """The newest installed PostgreSQL whose share dir has the PostGIS extension."""
    if explicit is not None:
        if not (explicit / "pg_ctl").exists():
            msg = f"GEO_OUTREACH_PG_BIN_DIR={explicit} has no pg_ctl"
            raise DatabaseUnavailable(msg)
        return explicit
    candidates: list[tuple[int, Path]] = []
    for bin_dir in Path("/usr/lib/postgresql").glob("*/bin"):
        version = bin_dir.parent.name
        if version.isdigit() and (bin_dir / "pg_ctl").exists():
            candidates.append((int(version), bin_dir))
    with_postgis = [
        c
        for c in candidates
        if Path(f"/usr/share/postgresql/{c[0]}/extension/postgis.control").exists()
    ]
    pool = with_postgis or candidates
    if not pool:
        msg = (
            "no PostgreSQL server found under /usr/lib/postgresql; install Debian's "
            "postgresql-15-postgis-3 and postgresql-15-pgrouting (scripts/setup.sh does), "
            "or set GEO_OUTREACH_DATABASE_URL to an existing PostGIS database"
        )
        raise DatabaseUnavailable(msg)
    if not with_postgis:
        msg = (
            f"PostgreSQL {pool[-1][0]} is installed but PostGIS is not; install "
            f"postgresql-{pool[-1][0]}-postgis-3 and postgresql-{pool[-1][0]}-pgrouting"
        )
        raise DatabaseUnavailable(msg)
    return max(pool)[1]


def _free_port() -> int:
    """A port the OS says is free now; kept in the state file so the cluster keeps it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class ClusterState:
    port: int
    admin_password: str
    app_password: str
    database: str = DATABASE
    # Made with the first standby (clusters older than issue 16 have none yet).
    replication_password: str | None = None


class LocalPostgres:
    """Create, start, stop and describe the project's own cluster."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        os_user: str = "postgres",
        bin_dir: Path | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._wanted_port = port
        self._os_user = os_user
        self._bin_dir = bin_dir
        self._log = log or (lambda line: print(line, file=sys.stderr))

    # -- who runs it -------------------------------------------------------------------------

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def _owner(self) -> pwd.struct_passwd:
        if not self.as_root:
            return pwd.getpwuid(os.geteuid())
        try:
            owner = pwd.getpwnam(self._os_user)
        except KeyError:
            msg = (
                f"running as root, the cluster must run as an unprivileged OS user, but user "
                f"'{self._os_user}' does not exist; create it or set GEO_OUTREACH_PG_OS_USER"
            )
            raise DatabaseUnavailable(msg) from None
        if owner.pw_uid == 0:
            msg = "GEO_OUTREACH_PG_OS_USER must not be root: PostgreSQL refuses to run as root"
            raise DatabaseUnavailable(msg)
        return owner

    def _run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env.update(extra_env or {})
        if self.as_root:
            owner = self._owner()
            kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
            env["HOME"] = owner.pw_dir
        proc = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            env=env,
            cwd=self.data_dir if self.data_dir.exists() else None,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )
        if check and proc.returncode != 0:
            msg = f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
            raise DatabaseUnavailable(msg)
        return proc

    def _bin(self, name: str) -> str:
        return str(find_bin_dir(self._bin_dir) / name)

    # -- state -------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.state_path.exists()

    def state(self) -> ClusterState:
        try:
            raw = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            msg = f"no cluster in {self.data_dir}; run 'geo-outreach db start'"
            raise DatabaseUnavailable(msg) from None
        return ClusterState(**raw)

    def url(self, *, admin: bool = False) -> URL:
        st = self.state()
        return URL.create(
            "postgresql+psycopg",
            username=ADMIN_ROLE if admin else APP_LOGIN,
            password=st.admin_password if admin else st.app_password,
            host="127.0.0.1",
            port=st.port,
            database=st.database,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def _ensure_traversable(self, path: Path, owner: pwd.struct_passwd) -> None:
        """Root may keep its checkout in a 0700 directory; let the cluster's user pass through."""
        for parent in reversed(path.parents):
            st = parent.stat()
            if st.st_mode & stat.S_IXOTH or st.st_uid == owner.pw_uid:
                continue
            setfacl = shutil.which("setfacl")
            if setfacl is None:
                msg = (
                    f"OS user '{owner.pw_name}' cannot enter {parent} (mode "
                    f"{stat.filemode(st.st_mode)}); install the 'acl' package or put the cluster "
                    f"elsewhere with GEO_OUTREACH_PG_DIR"
                )
                raise DatabaseUnavailable(msg)
            proc = subprocess.run(
                [setfacl, "-m", f"u:{owner.pw_name}:x", str(parent)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                msg = (
                    f"OS user '{owner.pw_name}' cannot enter {parent} and setfacl failed "
                    f"({proc.stderr.strip()}); put the cluster elsewhere with GEO_OUTREACH_PG_DIR"
                )
                raise DatabaseUnavailable(msg)
            self._log(f"granted '{owner.pw_name}' passage through {parent} (ACL u:x)")

    def init(self) -> None:
        if self.is_initialised():
            return
        owner = self._owner()
        if (self.data_dir / "PG_VERSION").exists():
            msg = f"{self.data_dir} holds a PostgreSQL cluster not made by geo-outreach"
            raise DatabaseUnavailable(msg)
        self._log(f"initialising PostgreSQL cluster in {self.data_dir} …")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            self._ensure_traversable(self.data_dir, owner)
            os.chown(self.data_dir, owner.pw_uid, owner.pw_gid)
        self.data_dir.chmod(0o700)
        state = ClusterState(
            port=self._wanted_port or _free_port(),
            admin_password=secrets.token_urlsafe(24),
            app_password=secrets.token_urlsafe(24),
        )
        # initdb wants an empty directory, so the password file lives outside it.
        fd, name = tempfile.mkstemp(prefix="geo-outreach-pw-")
        pwfile = Path(name)
        os.write(fd, (state.admin_password + "\n").encode())
        os.close(fd)
        if self.as_root:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    ADMIN_ROLE,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        socket_dir = str(self.data_dir) if len(str(self.data_dir)) <= MAX_SOCKET_DIR else ""
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# geo-outreach embedded cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {state.port}\n"
                f"unix_socket_directories = '{socket_dir}'\n"
                "timezone = 'UTC'\n"
                "shared_buffers = '256MB'\n"
                "logging_collector = off\n"
            )
        self._ensure_log_privacy()
        self.state_path.write_text(json.dumps(state.__dict__))
        self.state_path.chmod(0o600)
        if self.as_root:
            os.chown(self.state_path, owner.pw_uid, owner.pw_gid)
        self.start()
        self._bootstrap(state)

    def _bootstrap(self, state: ClusterState) -> None:
        """Roles and database: an admin (migrations) and a least-privilege app login."""
        import psycopg
        from psycopg import sql

        admin = self.url(admin=True)
        with psycopg.connect(
            host="127.0.0.1",
            port=state.port,
            user=ADMIN_ROLE,
            password=state.admin_password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(APP_GROUP)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                    sql.Identifier(APP_LOGIN),
                    sql.Literal(state.app_password),
                    sql.Identifier(APP_GROUP),
                )
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        with psycopg.connect(
            host="127.0.0.1",
            port=state.port,
            user=ADMIN_ROLE,
            password=state.admin_password,
            dbname=admin.database,
            autocommit=True,
        ) as conn:
            for ext in EXTENSIONS:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext))
                )

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        proc = self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "status"], check=False)
        return proc.returncode == 0

    def _ensure_log_privacy(self) -> bool:
        """Add the log settings to postgresql.conf once (clusters made before issue 10 too);
        True when they were added now."""
        conf = self.data_dir / "postgresql.conf"
        if LOG_PRIVACY_MARK in conf.read_text():
            return False
        with conf.open("a") as f:  # later lines win over earlier ones
            f.write(f"\n{LOG_PRIVACY_MARK}\n")
            f.writelines(f"{name} = '{value}'\n" for name, value in LOG_PRIVACY.items())
        return True

    def start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self.init()
            return
        added = self._ensure_log_privacy()
        if self.is_running():
            if added:  # all of them take effect on reload
                self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "reload"])
            return
        self._log(f"starting PostgreSQL on 127.0.0.1:{self.state().port} …")
        log_file = self.data_dir / "server.log"
        self._run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(log_file),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        port = self.state().port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        msg = f"PostgreSQL did not accept connections on 127.0.0.1:{port} within {timeout:.0f} s"
        raise DatabaseUnavailable(msg)

    def stop(self) -> bool:
        if not self.is_running():
            return False
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        return True

    def server_version(self) -> str:
        proc = self._run([self._bin("postgres"), "--version"])
        match = re.search(r"(\d+\.\d+)", proc.stdout)
        return match.group(1) if match else proc.stdout.strip()

    # -- streaming replicas (issue 16) -------------------------------------------------------

    def _replication_password(self) -> str:
        """The replication role's password, the role made (and remembered) on first use."""
        import psycopg
        from psycopg import sql

        st = self.state()
        password = st.replication_password or secrets.token_urlsafe(24)
        with psycopg.connect(
            host="127.0.0.1",
            port=st.port,
            user=ADMIN_ROLE,
            password=st.admin_password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_ROLE,)
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} WITH LOGIN REPLICATION PASSWORD {}").format(
                    sql.Identifier(REPLICATION_ROLE), sql.Literal(password)
                )
            )
        if st.replication_password != password:
            self._write_state(replace(st, replication_password=password))
        return password

    def _write_state(self, st: ClusterState) -> None:
        self.state_path.write_text(json.dumps(st.__dict__))
        self.state_path.chmod(0o600)

    def make_standby(self, data_dir: Path, *, port: int = 0) -> LocalPostgres:
        """A streaming replica (hot standby) of this running cluster in `data_dir`, started:
        pg_basebackup of the whole cluster with its WAL, standby.signal and primary_conninfo
        (-R), then its own port and socket. It serves reads only and follows the primary."""
        standby = LocalPostgres(
            data_dir, port=port, os_user=self._os_user, bin_dir=self._bin_dir, log=self._log
        )
        if standby.data_dir.exists() and any(standby.data_dir.iterdir()):
            msg = f"{standby.data_dir} is not empty; a standby is made in a new folder"
            raise DatabaseUnavailable(msg)
        st = self.state()
        password = self._replication_password()
        owner = self._owner()
        standby.data_dir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            self._ensure_traversable(standby.data_dir, owner)
            os.chown(standby.data_dir, owner.pw_uid, owner.pw_gid)
        standby.data_dir.chmod(0o700)
        self._log(f"copying the cluster on port {st.port} into {standby.data_dir} …")
        name = re.sub(r"[^a-z0-9_]", "_", standby.data_dir.name.lower())[:40] or "standby"
        conninfo = (
            f"host=127.0.0.1 port={st.port} user={REPLICATION_ROLE} "
            f"application_name=geo_outreach_{name}"
        )
        self._run(
            [
                self._bin("pg_basebackup"),
                "-D",
                str(standby.data_dir),
                "-d",
                conninfo,
                "--wal-method=stream",
                "--checkpoint=fast",
                "--write-recovery-conf",
                "--no-password",
            ],
            # Not on the command line (ps shows it); -R copies it into primary_conninfo, in
            # postgresql.auto.conf inside the 0700 data folder, as the primary keeps its own.
            extra_env={"PGPASSWORD": password},
        )
        new_port = port or _free_port()
        data = str(standby.data_dir)
        socket_dir = data if len(data) <= MAX_SOCKET_DIR else ""
        with (standby.data_dir / "postgresql.conf").open("a") as f:
            f.write(
                "\n# geo-outreach standby (later lines win over the primary's)\n"
                f"port = {new_port}\n"
                f"unix_socket_directories = '{socket_dir}'\n"
                "hot_standby = on\n"
                # Long reads are not cancelled by the cleanup they would conflict with.
                "hot_standby_feedback = on\n"
            )
        (standby.data_dir / "server.log").unlink(missing_ok=True)
        for lock in standby.data_dir.glob(".s.PGSQL.*"):  # the primary's socket lock
            lock.unlink(missing_ok=True)
        standby._write_state(replace(st, port=new_port))
        standby.start()
        return standby

    def is_standby(self) -> bool:
        return (self.data_dir / "standby.signal").exists()

    # -- WAL archiving and point-in-time recovery (issue 16) ---------------------------------

    def _own_folder(self, folder: Path) -> Path:
        """A folder of the cluster's OS user, mode 0700 (it holds row data, like the cluster)."""
        folder = folder.expanduser().resolve()
        owner = self._owner()
        folder.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            self._ensure_traversable(folder, owner)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        folder.chmod(0o700)
        return folder

    def _run_binary(
        self, args: Sequence[str], *, stdin: bytes | None = None, extra_env: dict[str, str]
    ) -> bytes:
        """Like _run, for a tool whose input or output is bytes (a tar stream); its output."""
        kwargs: dict[str, object] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env.update(extra_env)
        if self.as_root:
            owner = self._owner()
            kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
            env["HOME"] = owner.pw_dir
        proc = subprocess.run(
            list(args),
            input=stdin,
            capture_output=True,
            env=env,
            cwd=self.data_dir if self.data_dir.exists() else None,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()[-2000:]
            msg = f"{Path(args[0]).name} failed ({proc.returncode}): {err}"
            raise DatabaseUnavailable(msg)
        out: bytes = proc.stdout
        return out

    def private_file(self, path: Path, data: bytes) -> None:
        """A file only the cluster's OS user can read (mode 0400), e.g. the key that opens the
        WAL archive while a recovery replays it."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        if self.as_root:
            owner = self._owner()
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def enable_wal_archive(self, folder: Path, *, recipient: str, age: Path) -> bool:
        """Every finished WAL segment is encrypted with age to `recipient` (a public key: the
        server holds nothing that opens the archive) into `folder` as <segment>.age, never over
        an existing file and via a temporary name so no half segment carries a good name; a
        quiet cluster still switches segments every minute. Restarts a running cluster when
        archiving was off or changed (archive_mode needs it); True when the settings changed."""
        folder = self._own_folder(folder)
        if "'" in str(folder) or '"' in str(folder) or "'" in str(age) or '"' in str(age):
            msg = f"the WAL archive folder and the age tool must not contain quotes: {folder}"
            raise DatabaseUnavailable(msg)
        if not re.fullmatch(r"age1[0-9a-z]{20,100}", recipient):
            msg = "the WAL archive's recipient is not an age public key"
            raise DatabaseUnavailable(msg)
        target = f"{folder}/%f.age"
        command = (
            f'test ! -f "{target}" && "{age}" -r {recipient} -o "{target}.part" "%p" '
            f'&& mv "{target}.part" "{target}"'
        )
        lines = (
            f"{ARCHIVE_MARK}\n"
            "archive_mode = on\n"
            f"archive_command = '{command}'\n"
            "archive_timeout = '60s'\n"
        )
        conf = self.data_dir / "postgresql.conf"
        text = conf.read_text()
        if ARCHIVE_MARK in text and (ARCHIVE_MARK + text.rsplit(ARCHIVE_MARK, 1)[1]).startswith(
            lines
        ):
            return False  # the newest archive block is this one already
        with conf.open("a") as f:  # later lines win over earlier ones
            f.write("\n" + lines)
        if self.is_running():
            self._log("restarting PostgreSQL to switch (encrypted) WAL archiving on …")
            self.stop()
            self.start()
        return True

    def base_backup_tar(self) -> bytes:
        """A physical copy of the whole cluster (pg_basebackup: one gzipped tar with the WAL it
        needs to be consistent), in memory: the caller encrypts it before it reaches a disk."""
        st = self.state()
        password = self._replication_password()
        return self._run_binary(
            [
                self._bin("pg_basebackup"),
                "-D",
                "-",
                "-d",
                f"host=127.0.0.1 port={st.port} user={REPLICATION_ROLE}",
                "--format=tar",
                "--gzip",
                "--wal-method=fetch",
                "--checkpoint=fast",
                "--no-password",
            ],
            extra_env={"PGPASSWORD": password},
        )

    def unpack_base_backup(self, tarball: bytes) -> None:
        """A base backup's gzipped tar (decrypted, in memory) into this cluster's (new, empty)
        data folder."""
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            msg = f"{self.data_dir} is not empty; a base backup is unpacked into a new folder"
            raise DatabaseUnavailable(msg)
        self._own_folder(self.data_dir)
        self._run_binary(
            ["tar", "-xzf", "-", "-C", str(self.data_dir)], stdin=tarball, extra_env={}
        )
        self._drop_copied_leftovers()

    def archive_cleanup(self, folder: Path, *, oldest: str) -> list[str]:
        """pg_archivecleanup: the archived WAL segments older than `oldest` (the first one the
        oldest kept base backup needs) are deleted; their names."""
        proc = self._run([self._bin("pg_archivecleanup"), "-d", "-x", ".age", str(folder), oldest])
        return re.findall(r"removing file \"[^\"]*?([0-9A-F]{24}[^\"]*)\"", proc.stderr)

    def _drop_copied_leftovers(self) -> None:
        """What a copied data folder holds of the server it was copied from: its pid, options
        and log, and its socket's lock file (it would stop this server on the same port)."""
        for name in ("postmaster.pid", "postmaster.opts", "standby.signal", "server.log"):
            (self.data_dir / name).unlink(missing_ok=True)
        for lock in self.data_dir.glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)

    def adopt_wal(self, old_data_dir: Path) -> int:
        """The WAL segments in a stopped cluster's pg_wal, copied into this one's (recovery then
        replays up to that cluster's very end, archived or not; the same name is the same
        timeline, and the old cluster's copy is the longer one); returns how many."""
        names = [
            str(p)
            for p in sorted((old_data_dir / "pg_wal").glob("*"))
            if re.fullmatch(r"[0-9A-F]{24}", p.name)
        ]
        if names:
            self._run(["cp", "--preserve=timestamps", *names, str(self.data_dir / "pg_wal")])
        # What the old cluster had archived stays marked so: archived again, a segment would
        # meet its own earlier copy, and the archive_command (which never overwrites) would
        # fail on it for ever.
        done = [
            str(p)
            for p in sorted((old_data_dir / "pg_wal" / "archive_status").glob("*.done"))
            if re.fullmatch(r"[0-9A-F]{24}\.done", p.name)
        ]
        if done:
            status = self.data_dir / "pg_wal" / "archive_status"
            self._run(["cp", "--preserve=timestamps", *done, str(status)])
        return len(names)

    def sibling(self, data_dir: Path) -> LocalPostgres:
        """Another cluster of the same OS user and PostgreSQL (a copy, a kept old one)."""
        return LocalPostgres(data_dir, os_user=self._os_user, bin_dir=self._bin_dir, log=self._log)

    def last_checkpoint(self) -> str:
        """The latest checkpoint's WAL position (of a stopped cluster: where its WAL ends)."""
        proc = self._run([self._bin("pg_controldata"), "-D", str(self.data_dir)])
        match = re.search(r"^Latest checkpoint location:\s+(\S+)$", proc.stdout, re.MULTILINE)
        if match is None:
            msg = f"pg_controldata of {self.data_dir} names no checkpoint"
            raise DatabaseUnavailable(msg)
        return match.group(1)
