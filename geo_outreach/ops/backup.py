"""Encrypted, verified backups of the whole database, and their restore.

A backup is one file in the age format (passphrase mode: scrypt, then ChaCha20-Poly1305, via the
pyrage library; `age -d` opens it too). Inside is a tar of two members: `database.dump`, a
`pg_dump -Fc` of the database made by the pg_dump of the server's own PostgreSQL version, and
`manifest.json`: the schema revision, and per table its row count and a SHA-256 of its rows,
taken in the very snapshot the dump was made from, and the dump's SHA-256.

Nothing unencrypted ever touches the disk: the dump is held in memory, encrypted, written to a
hidden partial file (mode 0600) beside the target, read back and checked, and only then renamed
to its good name. A process killed at any point leaves the earlier backups as they were and no
file under a good name that is not a complete, checked backup.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyrage
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy import URL

from geo_outreach.core.errors import GeoOutreachError, invalid

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
AGE_MAGIC = b"age-encryption.org/v1\n"
NAME_PREFIX = "geo-outreach-"
NAME_SUFFIX = ".backup.age"
PARTIAL = re.compile(r"^\.geo-outreach-backup-(\d+)-[0-9a-f]+\.partial$")
MIN_KEY_CHARS = 12
PG_ROOT = Path("/usr/lib/postgresql")
# Row text must not depend on the session: the same rows give the same digest on any server.
STABLE_OUTPUT = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)
USER_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


class BackupError(GeoOutreachError):
    """A backup or restore was refused or failed; nothing under a good name was changed."""


@dataclass(frozen=True)
class TableSum:
    rows: int
    sha256: str  # of the sorted per-row MD5s of the rows as text


@dataclass(frozen=True)
class Manifest:
    format: int
    created_at: str
    database: str
    server_version: str
    pg_dump: str
    schema_revision: str | None
    tables: dict[str, TableSum]
    dump_sha256: str
    dump_bytes: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data: dict[str, Any] = json.loads(raw)
        if data.get("format") != FORMAT:
            msg = f"backup format {data.get('format')!r} is not known (this version reads {FORMAT})"
            raise BackupError(msg)
        data["tables"] = {name: TableSum(**t) for name, t in data["tables"].items()}
        return cls(**data)


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    file_bytes: int
    removed: list[Path]


@dataclass(frozen=True)
class RestoreResult:
    database: str
    manifest: Manifest
    replaced: bool


# -- connections and tools --------------------------------------------------------------------


def _conninfo(url: URL, *, database: str | None = None) -> dict[str, str]:
    """libpq parameters of a SQLAlchemy URL (its query string too, e.g. sslmode)."""
    args = url.translate_connect_args(username="user", database="dbname")
    info = {k: str(v) for k, v in args.items() if v is not None}
    info.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    if database is not None:
        info["dbname"] = database
    return info


def _connect(
    url: URL, *, database: str | None = None, autocommit: bool = False
) -> psycopg.Connection:
    return psycopg.connect(**_conninfo(url, database=database), autocommit=autocommit)  # type: ignore[arg-type]


def _tool_env(url: URL, *, database: str | None = None) -> tuple[str, dict[str, str]]:
    """A conninfo without the password for the command line, the password in the environment."""
    info = _conninfo(url, database=database)
    password = info.pop("password", None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    if password is not None:
        env["PGPASSWORD"] = password
    return make_conninfo(**info), env


def pg_tool(name: str, server_major: int, *, bin_dir: Path | None = None) -> Path:
    """pg_dump / pg_restore of the server's own major version (or else the nearest newer one:
    an older pg_dump refuses a newer server)."""
    if bin_dir is not None:
        tool = bin_dir / name
        if not tool.exists():
            msg = f"GEO_OUTREACH_PG_BIN_DIR={bin_dir} has no {name}"
            raise BackupError(msg)
        return tool
    found = sorted(
        (int(p.parent.parent.name), p)
        for p in PG_ROOT.glob(f"*/bin/{name}")
        if p.parent.parent.name.isdigit()
    )
    for major, tool in found:
        if major >= server_major:
            return tool
    msg = (
        f"no {name} for PostgreSQL {server_major} under {PG_ROOT}; install Debian's "
        f"postgresql-client-{server_major}"
    )
    raise BackupError(msg)


def _server_major(conn: psycopg.Connection) -> tuple[int, str]:
    num = conn.execute("SHOW server_version_num").fetchone()
    version = conn.execute("SHOW server_version").fetchone()
    assert num is not None and version is not None
    return int(num[0]) // 10000, str(version[0]).split(" ")[0]


# -- what a database holds --------------------------------------------------------------------


def table_sums(conn: psycopg.Connection) -> dict[str, TableSum]:
    """Row count and content digest of every user table (extension tables excepted), read in
    the connection's current transaction."""
    for statement in STABLE_OUTPUT:
        conn.execute(statement)
    sums: dict[str, TableSum] = {}
    for schema, table in conn.execute(USER_TABLES).fetchall():
        query = sql.SQL(
            "SELECT count(*), encode(sha256(convert_to(coalesce(string_agg(h, '' ORDER BY h), ''),"
            " 'UTF8')), 'hex') FROM (SELECT md5(t::text) COLLATE \"C\" AS h FROM {} AS t) rows"
        ).format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        assert row is not None
        sums[f"{schema}.{table}"] = TableSum(rows=int(row[0]), sha256=str(row[1]))
    return sums


def _schema_revision(conn: psycopg.Connection) -> str | None:
    present = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()
    if present is None or present[0] is None:
        return None
    row = conn.execute("SELECT version_num FROM public.alembic_version").fetchone()
    return str(row[0]) if row else None


def _audit(conn: psycopg.Connection, *, actor: str, action: str, detail: dict[str, Any]) -> None:
    """The backup reads and the restore writes every site and visit: both are recorded."""
    present = conn.execute("SELECT to_regclass('public.audit_log')").fetchone()
    if present is None or present[0] is None:
        return
    conn.execute(
        "INSERT INTO public.audit_log (actor, role, action, layer, object_ids, outcome, detail) "
        "VALUES (%s, 'cli', %s, 'database', '{}', 'ok', %s::jsonb)",
        (actor, action, json.dumps(detail)),
    )


# -- the key and the file ---------------------------------------------------------------------


def check_key(key: str | None) -> str:
    if not key:
        msg = (
            "GEO_OUTREACH_BACKUP_KEY is not set: backups are encrypted at rest and none is made "
            f"without a passphrase ({MIN_KEY_CHARS}+ characters, kept off this machine too)"
        )
        raise BackupError(msg)
    if len(key) < MIN_KEY_CHARS:
        msg = f"GEO_OUTREACH_BACKUP_KEY is too short: at least {MIN_KEY_CHARS} characters"
        raise BackupError(msg)
    return key


def _pack(manifest: Manifest, dump: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in ((MANIFEST, manifest.to_json()), (DUMP, dump)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def open_backup(path: Path, *, key: str) -> tuple[Manifest, bytes]:
    """Decrypt and check a backup file: its manifest and the dump it describes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror}"
        raise BackupError(msg) from None
    if not raw.startswith(AGE_MAGIC):
        msg = f"{path} is not an encrypted geo-outreach backup (no age header)"
        raise BackupError(msg)
    try:
        payload = pyrage.passphrase.decrypt(raw, key)
    except pyrage.DecryptError:
        msg = f"cannot decrypt {path}: wrong GEO_OUTREACH_BACKUP_KEY, or the file is damaged"
        raise BackupError(msg) from None
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r") as tar:
            members = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
            manifest_file, dump_file = members.get(MANIFEST), members.get(DUMP)
            if manifest_file is None or dump_file is None:
                msg = f"{path} lacks {MANIFEST} or {DUMP}"
                raise BackupError(msg)
            manifest = Manifest.from_json(manifest_file.read())
            dump = dump_file.read()
    except (tarfile.TarError, ValueError, KeyError, TypeError) as exc:
        msg = f"{path} decrypts but is not a geo-outreach backup: {exc}"
        raise BackupError(msg) from None
    if hashlib.sha256(dump).hexdigest() != manifest.dump_sha256 or len(dump) != manifest.dump_bytes:
        msg = f"{path}: the dump does not match its manifest's checksum"
        raise BackupError(msg)
    return manifest, dump


@contextlib.contextmanager
def _memfile(data: bytes = b"") -> Iterator[int]:
    """A seekable file in memory (memfd): pg_dump writes its data offsets into it and
    pg_restore reads it in any order, and no unencrypted byte reaches the disk."""
    fd = os.memfd_create("geo-outreach-dump", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    with os.fdopen(fd, "rb", closefd=False) as f:
        return f.read()


def _check_archive(dump: bytes, *, pg_restore: Path) -> None:
    """pg_restore can read the whole table of contents."""
    with _memfile(dump) as fd:
        proc = subprocess.run(
            [str(pg_restore), "--list"], stdin=fd, capture_output=True, check=False
        )
    if proc.returncode != 0:
        msg = f"pg_restore cannot read the dump: {proc.stderr.decode(errors='replace')[-500:]}"
        raise BackupError(msg)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _partial(folder: Path) -> Iterator[Path]:
    """A hidden, private file beside the target; removed unless renamed by the caller."""
    path = folder / f".geo-outreach-backup-{os.getpid()}-{secrets.token_hex(4)}.partial"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def default_name(now: datetime) -> str:
    return f"{NAME_PREFIX}{now:%Y%m%dT%H%M%S.%f}Z{NAME_SUFFIX}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(folder: Path, *, keep: int) -> list[Path]:
    """Keep the newest `keep` backups (by their time-stamped names) and drop partial files
    that no running backup owns any more."""
    removed: list[Path] = []
    for path in folder.iterdir():
        match = PARTIAL.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    good = sorted(
        p
        for p in folder.iterdir()
        if p.name.startswith(NAME_PREFIX) and p.name.endswith(NAME_SUFFIX) and p.is_file()
    )
    for path in good[: max(len(good) - keep, 0)]:
        path.unlink()
        removed.append(path)
    return removed


# -- backup -----------------------------------------------------------------------------------


def _dump(
    url: URL, *, bin_dir: Path | None, actor: str, log: Callable[[str], None]
) -> tuple[Manifest, bytes]:
    """pg_dump of one exported snapshot, and the manifest read in that same snapshot."""
    with _connect(url) as conn:
        major, version = _server_major(conn)
        pg_dump = pg_tool("pg_dump", major, bin_dir=bin_dir)
        _audit(conn, actor=actor, action="backup", detail={"server": version})
        conn.commit()
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot_row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert snapshot_row is not None
        tables = table_sums(conn)
        revision = _schema_revision(conn)
        conninfo, env = _tool_env(url)
        log(f"pg_dump ({pg_dump.parent.parent.name}) of {url.database} …")
        with _memfile() as fd:
            proc = subprocess.run(
                [
                    str(pg_dump),
                    "--format=custom",
                    f"--snapshot={snapshot_row[0]}",
                    "--no-password",
                    f"--dbname={conninfo}",
                ],
                stdout=fd,
                stderr=subprocess.PIPE,
                env=env,
                check=False,
            )
            dump = _read_all(fd)
        conn.rollback()
    if proc.returncode != 0:
        msg = f"pg_dump failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-1000:]}"
        raise BackupError(msg)
    tool_version = subprocess.run(
        [str(pg_dump), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    manifest = Manifest(
        format=FORMAT,
        created_at=datetime.now(UTC).isoformat(),
        database=str(url.database),
        server_version=version,
        pg_dump=tool_version,
        schema_revision=revision,
        tables=tables,
        dump_sha256=hashlib.sha256(dump).hexdigest(),
        dump_bytes=len(dump),
    )
    return manifest, dump


def create_backup(
    url: URL,
    *,
    key: str | None,
    out: Path,
    keep: int | None = None,
    bin_dir: Path | None = None,
    actor: str = "cli",
    log: Callable[[str], None] = lambda _line: None,
) -> BackupResult:
    """Back up the database at `url` (a login that can read everything) to `out`: a file, or
    a folder that gets a time-stamped name. With `keep`, only the newest `keep` time-stamped
    backups stay in that folder."""
    passphrase = check_key(key)
    target = out / default_name(datetime.now(UTC)) if out.is_dir() else out
    folder = target.parent
    if not folder.is_dir():
        msg = f"folder {folder} does not exist"
        raise invalid("out", msg)
    manifest, dump = _dump(url, bin_dir=bin_dir, actor=actor, log=log)
    pg_restore = pg_tool("pg_restore", int(manifest.server_version.split(".")[0]), bin_dir=bin_dir)
    log(f"encrypting {len(dump)} bytes …")
    sealed = pyrage.passphrase.encrypt(_pack(manifest, dump), passphrase)
    with _partial(folder) as partial:
        with partial.open("wb") as f:
            f.write(sealed)
            f.flush()
            os.fsync(f.fileno())
        log("reading it back to check it …")
        checked, checked_dump = open_backup(partial, key=passphrase)
        if checked != manifest:
            msg = "the written backup does not read back as written"
            raise BackupError(msg)
        _check_archive(checked_dump, pg_restore=pg_restore)
        os.replace(partial, target)
    _fsync_dir(folder)
    removed = prune(folder, keep=keep) if keep is not None else []
    return BackupResult(path=target, manifest=manifest, file_bytes=len(sealed), removed=removed)


# -- restore ----------------------------------------------------------------------------------


def _user_tables(conn: psycopg.Connection) -> int:
    return len(conn.execute(USER_TABLES).fetchall())


def _recreate(url: URL, *, exists: bool) -> None:
    """(Re)create the target database, empty, from the maintenance database."""
    name = str(url.database)
    with _connect(url, database="postgres", autocommit=True) as conn:
        if exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _database_exists(url: URL) -> bool:
    with _connect(url, database="postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (str(url.database),)
        ).fetchone()
    return row is not None


def restore_backup(
    path: Path,
    url: URL,
    *,
    key: str | None,
    force: bool = False,
    bin_dir: Path | None = None,
    actor: str = "cli",
    log: Callable[[str], None] = lambda _line: None,
) -> RestoreResult:
    """Restore a backup into the database at `url` (created if missing). It must be empty
    unless `force`, which drops and recreates it first. All or nothing; afterwards every
    table's row count and digest are compared with the manifest."""
    if not key:
        msg = "GEO_OUTREACH_BACKUP_KEY is not set: it is needed to open the backup"
        raise BackupError(msg)
    exists = _database_exists(url)
    replaced = False
    if exists:
        with _connect(url) as conn:
            tables = _user_tables(conn)
        if tables and not force:
            msg = (
                f"database {url.database} is not empty ({tables} tables): a backup is restored "
                "only into an empty database; restore with force to drop and replace it"
            )
            raise BackupError(msg)
        replaced = bool(tables)
    manifest, dump = open_backup(path, key=key)
    if not exists or replaced:
        log(f"{'replacing' if replaced else 'creating'} database {url.database} …")
        _recreate(url, exists=exists)
    with _connect(url) as conn:
        major, _ = _server_major(conn)
    pg_restore = pg_tool("pg_restore", major, bin_dir=bin_dir)
    conninfo, env = _tool_env(url)
    log(f"pg_restore into {url.database} …")
    with _memfile(dump) as fd:
        proc = subprocess.run(
            [
                str(pg_restore),
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-password",
                f"--dbname={conninfo}",
            ],
            stdin=fd,
            capture_output=True,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        msg = (
            f"pg_restore failed, nothing was restored: "
            f"{proc.stderr.decode(errors='replace')[-1000:]}"
        )
        raise BackupError(msg)
    with _connect(url) as conn:
        found = table_sums(conn)
        if found != manifest.tables:
            bad = sorted(
                t
                for t in set(found) | set(manifest.tables)
                if found.get(t) != manifest.tables.get(t)
            )
            msg = f"restored database differs from the backup's manifest in: {', '.join(bad)}"
            raise BackupError(msg)
        _audit(
            conn,
            actor=actor,
            action="restore",
            detail={"backup_created_at": manifest.created_at, "tables": len(found)},
        )
        conn.commit()
    return RestoreResult(database=str(url.database), manifest=manifest, replaced=replaced)
