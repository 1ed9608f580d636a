"""Point-in-time recovery of the embedded cluster (issue 16): WAL archiving, base backups, and
a restore of the whole cluster to a moment.

Everything in the archive folder is encrypted in the age format, like `db backup`'s files, to
one X25519 key pair made when archiving is first switched on: its public half is
`wal-recipient.txt`, its private half `wal-identity.age`, sealed with GEO_OUTREACH_BACKUP_KEY
(scrypt). So nothing that writes the archive holds what opens it, and GEO_OUTREACH_BACKUP_KEY
opens all of it (`age -d wal-identity.age > id; age -d -i id FILE`).

- `wal/<segment>.age`: every finished WAL segment, encrypted by the server's archive_command
  with the age tool (the cluster's OS user cannot be assumed to reach this project's Python).
- `base/<time>/base.tar.gz.age`: physical base backups (pg_basebackup, gzipped tar), encrypted
  in memory, written to a partial name, mode 0600, renamed once complete.

A restore to a time decrypts the newest base backup finished before it, replays the archived WAL
up to that time (decrypted one segment at a time by the restore_command with a key file only the
cluster's OS user can read, removed afterwards), and opens the cluster for writing on a new
timeline. Then what was removed after that time for privacy is removed again: the redactions
recorded in the audit log after it are re-applied (those audit rows are carried over) and the
retention job runs. The cluster it replaces is kept beside it, unredacted, until removed.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyrage

from geo_outreach.core import db
from geo_outreach.core.errors import DatabaseUnavailable, GeoOutreachError, NotFound
from geo_outreach.core.pgserver import ADMIN_ROLE, LocalPostgres
from geo_outreach.ops import backup, retention
from layers.audit import AuditEntry

DONE = "geo-outreach-base.json"  # written once a base backup is complete
BASE_FILE = "base.tar.gz.age"
IDENTITY = "wal-identity.age"  # the archive's private key, sealed with the backup key
RECIPIENT = "wal-recipient.txt"  # its public key, all that writing the archive needs
RESTORE_IDENTITY = "geo-outreach-restore.identity"  # in the new data folder during a replay
RECOVERY_SETTINGS = ("restore_command", "recovery_target_time", "recovery_target_action")
START_WAL = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.MULTILINE)


class RecoveryError(GeoOutreachError):
    """A point-in-time restore that cannot be made (no base backup, WAL missing, …)."""


def wal_dir(archive: Path) -> Path:
    return archive / "wal"


def base_dir(archive: Path) -> Path:
    return archive / "base"


def _age_tool() -> Path:
    """The age command (Debian package `age`): the server's archive and restore commands run
    it as the cluster's OS user, who cannot be assumed to reach this project's Python."""
    found = shutil.which("age")
    if found is None:
        msg = "WAL archiving encrypts with the age tool, which is not installed (apt install age)"
        raise RecoveryError(msg)
    return Path(found).resolve()


def _write(folder: Path, name: str, data: bytes) -> None:
    """A private file (0600) under its good name only once complete (backup.py's way)."""
    with backup._partial(folder) as partial:
        with partial.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, folder / name)
    backup._fsync_dir(folder)


def _identity(archive: Path, key: str) -> pyrage.x25519.Identity:
    """The archive's private key, opened with the backup key (the pair is made on first use)."""
    sealed = archive / IDENTITY
    if not sealed.is_file():
        identity = pyrage.x25519.Identity.generate()
        _write(archive, IDENTITY, pyrage.passphrase.encrypt(str(identity).encode(), key))
        _write(archive, RECIPIENT, f"{identity.to_public()}\n".encode())
        return identity
    try:
        identity = pyrage.x25519.Identity.from_str(
            pyrage.passphrase.decrypt(sealed.read_bytes(), key).decode()
        )
    except pyrage.DecryptError as exc:
        msg = (
            f"cannot open {sealed}: GEO_OUTREACH_BACKUP_KEY is not the key it was made with "
            f"({exc}); a new key needs a new archive folder"
        )
        raise RecoveryError(msg) from None
    if _recipient(archive) != str(identity.to_public()):
        msg = f"{archive / RECIPIENT} does not belong to {sealed}"
        raise RecoveryError(msg)
    return identity


def _recipient(archive: Path) -> str:
    try:
        return (archive / RECIPIENT).read_text().strip()
    except FileNotFoundError:
        msg = f"{archive} has no {RECIPIENT}: switch WAL archiving on first (db start)"
        raise RecoveryError(msg) from None


def enable(cluster: LocalPostgres, archive: Path, *, key: str | None) -> bool:
    """Switch encrypted WAL archiving into `archive`/wal on (restarts the cluster the first
    time). Refused without GEO_OUTREACH_BACKUP_KEY, or with another key than the archive's."""
    passphrase = backup.check_key(key)
    age = _age_tool()
    folder = cluster._own_folder(archive)
    _identity(folder, passphrase)
    return cluster.enable_wal_archive(wal_dir(folder), recipient=_recipient(folder), age=age)


@dataclass(frozen=True)
class BaseBackup:
    folder: Path
    start_wal: str
    file_bytes: int
    removed: list[Path]  # base backups and WAL segments pruned afterwards


def _start_wal(tarball: bytes) -> str:
    """The first WAL segment a base backup needs (its backup_label): what pruning keeps."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        label = tar.extractfile("backup_label")
        match = START_WAL.search(label.read().decode()) if label is not None else None
    if match is None:
        msg = "the base backup has no readable backup_label"
        raise RecoveryError(msg)
    return match.group(1)


def _stamp() -> str:
    """UTC now as a folder name that sorts in time order (fixed width, microseconds)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def take_base_backup(
    cluster: LocalPostgres,
    archive: Path,
    *,
    key: str | None,
    keep: int | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> BaseBackup:
    """An encrypted base backup into `archive`/base/<time>/, marked complete only once it is
    written and reads back; with `keep`, older ones and the WAL they alone need are pruned."""
    backup.check_key(key)  # like `db backup`: none is made without it
    recipient = pyrage.x25519.Recipient.from_str(_recipient(archive))
    log(f"pg_basebackup of {cluster.data_dir} …")
    tarball = cluster.base_backup_tar()
    start_wal = _start_wal(tarball)
    log(f"encrypting {len(tarball)} bytes …")
    sealed = pyrage.encrypt(tarball, [recipient])
    # Microseconds: two base backups within one second must not share a folder.
    stamp = _stamp()
    folder = cluster._own_folder(cluster._own_folder(base_dir(archive)) / stamp)
    _write(folder, BASE_FILE, sealed)
    if (folder / BASE_FILE).read_bytes() != sealed:
        msg = f"{folder / BASE_FILE} does not read back as written"
        raise RecoveryError(msg)
    done = {"finished_at": datetime.now(UTC).isoformat(), "start_wal": start_wal}
    _write(folder, DONE, json.dumps(done).encode())
    removed = prune(cluster, archive, keep=keep, log=log) if keep is not None else []
    return BaseBackup(folder=folder, start_wal=start_wal, file_bytes=len(sealed), removed=removed)


def _complete(archive: Path) -> list[tuple[datetime, Path, str]]:
    """The complete, encrypted base backups: (finished at, folder, first WAL segment)."""
    found: list[tuple[datetime, Path, str]] = []
    for folder in base_dir(archive).glob("*"):
        marker = folder / DONE
        if marker.is_file() and (folder / BASE_FILE).is_file():
            done = json.loads(marker.read_text())
            if "start_wal" in done:
                found.append(
                    (datetime.fromisoformat(done["finished_at"]), folder, done["start_wal"])
                )
    return sorted(found)


def _in_progress(folder: Path) -> bool:
    return any(
        (m := backup.PARTIAL.match(p.name)) and backup._pid_alive(int(m.group(1)))
        for p in folder.iterdir()
    )


def prune(
    cluster: LocalPostgres,
    archive: Path,
    *,
    keep: int,
    log: Callable[[str], None] = lambda _line: None,
) -> list[Path]:
    """Keep the newest `keep` base backups and the WAL from the oldest of them on; delete the
    rest (also unfinished or unencrypted base backups no running process writes)."""
    if keep < 1:
        msg = "keep at least one base backup"
        raise RecoveryError(msg)
    complete = _complete(archive)
    kept = complete[-keep:]
    wanted = {folder for _, folder, _ in kept}
    removed: list[Path] = []
    for folder in sorted(base_dir(archive).glob("*")):
        if folder in wanted or not folder.is_dir() or _in_progress(folder):
            continue
        shutil.rmtree(folder)
        removed.append(folder)
        log(f"removed base backup {folder}")
    if kept:
        oldest = kept[0][2]
        names = cluster.archive_cleanup(wal_dir(archive), oldest=oldest)
        removed.extend(wal_dir(archive) / name for name in names)
        log(f"removed {len(names)} archived WAL segments older than {oldest}")
    return removed


@dataclass(frozen=True)
class Redo:
    """What is removed for privacy again after a restore: the retention settings, and the
    service area a site's redaction is checked against."""

    policy: retention.RetentionPolicy
    service_area: tuple[float, float, float, float]


@dataclass(frozen=True)
class Recovered:
    base: Path
    target: datetime
    kept: Path  # the cluster as it was before the restore: unredacted, until removed
    redactions: int  # visit notes and site texts redacted again
    retention: retention.RetentionResult | None


def _newest_base(archive: Path, target: datetime) -> Path:
    found = [folder for finished, folder, _ in _complete(archive) if finished <= target]
    if not found:
        msg = (
            f"no complete base backup in {base_dir(archive)} finished before "
            f"{target.isoformat()}; take one with 'geo-outreach db basebackup'"
        )
        raise RecoveryError(msg)
    return found[-1]


AUDIT_COLUMNS = ("at", "actor", "role", "action", "layer", "object_ids", "outcome", "detail")
# An audit row's time is its transaction's start: one that began a little before the target
# may have committed after it, and is then lost by the restore too.
AUDIT_MARGIN = timedelta(minutes=10)


def _audit_after(cluster: LocalPostgres, target: datetime) -> dict[int, dict[str, Any]]:
    """The audit rows (by id) that may have been committed after `target`, read from the
    running cluster before it is replaced: who did what, and which redactions to make again."""
    try:
        with _admin(cluster, cluster.state().database) as conn:
            present = conn.execute("SELECT to_regclass('public.audit_log')").fetchone()
            if present is None or present[0] is None:
                return {}
            rows = conn.execute(
                f"SELECT id, {', '.join(AUDIT_COLUMNS)} FROM audit_log WHERE at > %s",
                (target - AUDIT_MARGIN,),
            ).fetchall()
        return {row[0]: dict(zip(AUDIT_COLUMNS, row[1:], strict=True)) for row in rows}
    except psycopg.OperationalError as exc:
        msg = (
            f"the cluster cannot be read ({exc}): the redactions made after "
            f"{target.isoformat()} would not be made again; start it first"
        )
        raise RecoveryError(msg) from None


def restore_to_time(
    cluster: LocalPostgres,
    archive: Path,
    *,
    target: datetime,
    key: str | None,
    redo: Redo,
    actor: str,
    log: Callable[[str], None],
    timeout: float = 600.0,
) -> Recovered:
    """Replace the running cluster by its state at `target` (a time with a zone, not in the
    future), then redact again what was redacted after it.

    The WAL comes from the archive and, for its newest part, from the stopped cluster's own
    pg_wal (what was not archived yet), as PostgreSQL's manual says. When nothing was committed
    after `target`, PostgreSQL cannot tell it reached it: the cluster is then replayed to its
    very end, which is the same state."""
    if not key:
        msg = (
            "GEO_OUTREACH_BACKUP_KEY is not set: it is needed to open the base backup and the "
            "WAL archive; nothing was changed"
        )
        raise RecoveryError(msg)
    if target.tzinfo is None:
        msg = "the time to restore to needs a time zone, e.g. 2026-01-31T22:00:00+01:00"
        raise RecoveryError(msg)
    if target > datetime.now(UTC):
        msg = f"{target.isoformat()} is in the future"
        raise RecoveryError(msg)
    base = _newest_base(archive, target)
    age = _age_tool()
    identity = _identity(archive, key)  # both opened before anything is touched
    try:
        tarball = pyrage.decrypt((base / BASE_FILE).read_bytes(), [identity])
    except pyrage.DecryptError:
        msg = f"cannot decrypt {base / BASE_FILE}: it is damaged, or not of this archive"
        raise RecoveryError(msg) from None
    carried = _audit_after(cluster, target)
    log(f"restoring {cluster.data_dir} to {target.isoformat()} from {base.name} …")
    cluster.stop()
    stamp = _stamp()
    kept = cluster.data_dir.with_name(f"{cluster.data_dir.name}.before-restore-{stamp}")
    cluster.data_dir.rename(kept)
    replay = _Replay(archive=archive, tarball=tarball, kept=kept, age=age, identity=identity)
    try:
        try:
            _recover(cluster, replay, target=target, timeout=timeout)
        except (RecoveryError, DatabaseUnavailable):
            if ENDED_EARLY not in _server_log(cluster):
                raise
            log("nothing was committed after that time: replaying to the end of the WAL …")
            _discard(cluster)
            _recover(cluster, replay, target=None, timeout=timeout)
            _check_complete(cluster, kept, archive)
    except Exception:
        failed = kept.with_name(f"{kept.name}.failed")
        if cluster.data_dir.exists():
            _discard(cluster, keep_as=failed)
        kept.rename(cluster.data_dir)
        cluster.start()
        log(f"the restore failed; the cluster is back as it was (the attempt: {failed})")
        raise
    lost = _lost(cluster, carried)  # before the restore's own audit row takes an id
    _finish(cluster, actor=actor, target=target, base=base)
    try:
        redone, result = _redact_again(cluster, lost, target=target, redo=redo, actor=actor)
    except Exception as exc:
        msg = (
            f"restored to {target.isoformat()}, but redacting again what was redacted after "
            f"that time failed ({exc}): run 'geo-outreach retention run' now, redact again "
            f"what the audit log of {kept} names, and only then let anyone in"
        )
        raise RecoveryError(msg) from exc
    log(
        f"restored; {len(lost)} audit rows from after that time put back, {redone} redactions "
        "made again, retention run"
    )
    return Recovered(base=base, target=target, kept=kept, redactions=redone, retention=result)


def _lost(cluster: LocalPostgres, carried: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit rows of the old cluster the restored one does not have (the same rows keep
    their ids: the restored cluster is the old one's past), in the order they were written."""
    if not carried:
        return []
    with _admin(cluster, cluster.state().database) as conn:
        table = conn.execute("SELECT to_regclass('public.audit_log')").fetchone()
        if table is None or table[0] is None:
            return []  # restored to before the schema: nothing to put back into
        rows = conn.execute(
            "SELECT id FROM audit_log WHERE id = ANY(%s)", (list(carried),)
        ).fetchall()
    present = {row[0] for row in rows}
    return [carried[i] for i in sorted(carried) if i not in present]


ENDED_EARLY = "recovery ended before configured recovery target was reached"


@dataclass(frozen=True)
class _Replay:
    archive: Path
    tarball: bytes  # the decrypted base backup
    kept: Path
    age: Path
    identity: pyrage.x25519.Identity


def _recover(
    cluster: LocalPostgres, replay: _Replay, *, target: datetime | None, timeout: float
) -> None:
    """Unpack the base backup, add the old cluster's WAL, replay up to `target` (None: to the
    end) and open for writing. The WAL archive's key is in the new data folder (0400, the
    cluster's OS user) only while the replay runs."""
    cluster.unpack_base_backup(replay.tarball)
    cluster.adopt_wal(replay.kept)
    # Passage may have been taken back since archiving (a chmod of a parent folder zeroes the
    # ACL mask the cluster's OS user passes by): granted again.
    folder = cluster._own_folder(wal_dir(replay.archive))
    key_file = cluster.data_dir / RESTORE_IDENTITY
    cluster.private_file(key_file, str(replay.identity).encode() + b"\n")
    source = f"{folder}/%f.age"
    settings = {
        "restore_command": (
            # An archive the server cannot enter is not an empty one: an exit status above 125
            # makes PostgreSQL stop the recovery instead of ending it at the last WAL it found.
            f'test -x "{folder}" || exit 127; '
            f'test -f "{source}" && "{replay.age}" -d -i "{key_file}" -o "%p" "{source}"'
        )
    }
    if target is not None:
        settings["recovery_target_time"] = target.astimezone(UTC).isoformat()
        settings["recovery_target_action"] = "promote"
    with (cluster.data_dir / "postgresql.auto.conf").open("a") as f:
        f.writelines(f"{k} = '{v}'\n" for k, v in settings.items())
    (cluster.data_dir / "recovery.signal").touch()
    try:
        cluster.start()
        _wait_promoted(cluster, timeout=timeout)
    finally:
        key_file.unlink(missing_ok=True)


def _check_complete(cluster: LocalPostgres, kept: Path, archive: Path) -> None:
    """Replayed to the end: only the same state as at the time if no WAL was missing on the
    way, i.e. the replay passed the old cluster's last (shutdown) checkpoint."""
    old = cluster.sibling(kept).last_checkpoint()
    with _admin(cluster, "postgres") as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() >= %s::pg_lsn", (old,)).fetchone()
    if row is None or row[0] is not True:
        msg = (
            f"WAL is missing: the replay stopped before the end of the old cluster ({old}); "
            f"check {wal_dir(archive)} and the archive_command's errors in the server log"
        )
        raise RecoveryError(msg)


def _server_log(cluster: LocalPostgres) -> str:
    try:
        return (cluster.data_dir / "server.log").read_text(errors="replace")[-20_000:]
    except FileNotFoundError:
        return ""


def _discard(cluster: LocalPostgres, *, keep_as: Path | None = None) -> None:
    """Stop a failed attempt and remove (or keep aside) its data folder."""
    cluster.stop()
    if keep_as is not None:
        cluster.data_dir.rename(keep_as)
    else:
        shutil.rmtree(cluster.data_dir)


def _admin(cluster: LocalPostgres, dbname: str) -> psycopg.Connection:
    st = cluster.state()
    return psycopg.connect(
        host="127.0.0.1",
        port=st.port,
        user=ADMIN_ROLE,
        password=st.admin_password,
        dbname=dbname,
        autocommit=True,
    )


def _wait_promoted(cluster: LocalPostgres, *, timeout: float) -> None:
    """Until recovery has reached the target and the cluster takes writes again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cluster.is_running():
            msg = (
                "the server stopped during recovery (is WAL missing from the archive, or is "
                f"the time later than the archive reaches?); see {cluster.data_dir}/server.log"
            )
            raise RecoveryError(msg)
        try:
            with _admin(cluster, "postgres") as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and row[0] is False:
                    return
        except psycopg.OperationalError:
            pass  # not accepting connections yet
        time.sleep(0.2)
    msg = f"recovery did not finish within {timeout:.0f} s; see {cluster.data_dir}/server.log"
    raise RecoveryError(msg)


def _finish(cluster: LocalPostgres, *, actor: str, target: datetime, base: Path) -> None:
    """The recovery settings are dropped (they would act again at the next recovery) and the
    restore is recorded in the audit log."""
    with _admin(cluster, "postgres") as conn:
        for name in RECOVERY_SETTINGS:
            conn.execute(f"ALTER SYSTEM RESET {name}")
        conn.execute("SELECT pg_reload_conf()")
    with _admin(cluster, cluster.state().database) as conn:
        detail = {"to_time": target.isoformat(), "base_backup": base.name}
        backup._audit(conn, actor=actor, action="restore", detail=detail)


def _redact_again(
    cluster: LocalPostgres,
    lost: list[dict[str, Any]],
    *,
    target: datetime,
    redo: Redo,
    actor: str,
) -> tuple[int, retention.RetentionResult | None]:
    """The audit rows the restore lost are put back (it must not erase who did what), every
    visit note or site text they say was redacted is redacted again, and the retention job runs
    (what it redacted after `target` is old enough again). One transaction."""
    with _admin(cluster, cluster.state().database) as conn:
        present = conn.execute("SELECT to_regclass('public.visits')").fetchone()
    if present is None or present[0] is None:
        return 0, None  # no schema (yet): nothing to redact
    why = f"made again after a restore to {target.isoformat()}"
    redone = 0
    engine = db.make_engine(cluster.url(admin=True))
    try:
        with db.session_scope(engine) as session:
            session.add_all(AuditEntry(**row) for row in lost)
            session.flush()
            for row in lost:
                if row["action"] != "redact" or row["outcome"] != "ok":
                    continue
                for object_id in row["object_ids"]:
                    redone += _redact_one(
                        session, row["layer"], object_id, why=why, redo=redo, actor=actor
                    )
            result = retention.run(session, redo.policy, actor=actor, role="cli")
    finally:
        engine.dispose()
    return redone, result


def _redact_one(
    session: Any, layer: str, object_id: uuid.UUID, *, why: str, redo: Redo, actor: str
) -> int:
    try:
        if layer == "visits":
            return int(
                retention.redact_visit(session, object_id, reason=why, actor=actor, role="cli")
            )
        if layer == "sleeping_sites":
            return int(
                retention.redact_site(
                    session,
                    object_id,
                    reason=why,
                    actor=actor,
                    role="cli",
                    service_area=redo.service_area,
                )
            )
    except NotFound:
        return 0  # made after the time restored to: not there any more
    return 0


def remove_kept(recovered: Recovered) -> None:
    """Delete the cluster as it was before a restore (once the restored one is checked)."""
    shutil.rmtree(recovered.kept, ignore_errors=True)
