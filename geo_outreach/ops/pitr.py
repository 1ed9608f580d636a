"""Point-in-time recovery of the embedded cluster (issue 16): WAL archiving, base backups, and
a restore of the whole cluster to a moment.

The archive folder holds `wal/` (every finished WAL segment, copied there by the server's
archive_command) and `base/<time>/` (physical base backups, pg_basebackup tar + gzip). A
restore to a time takes the newest base backup finished before it, replays the archived WAL up
to that time, and opens the cluster for writing on a new timeline. The cluster it replaces is
kept beside it, renamed, until you remove it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from geo_outreach.core.errors import DatabaseUnavailable, GeoOutreachError
from geo_outreach.core.pgserver import ADMIN_ROLE, LocalPostgres
from geo_outreach.ops import backup

DONE = "geo-outreach-base.json"  # written once a base backup is complete
RECOVERY_SETTINGS = ("restore_command", "recovery_target_time", "recovery_target_action")


class RecoveryError(GeoOutreachError):
    """A point-in-time restore that cannot be made (no base backup, WAL missing, …)."""


def wal_dir(archive: Path) -> Path:
    return archive / "wal"


def base_dir(archive: Path) -> Path:
    return archive / "base"


def enable(cluster: LocalPostgres, archive: Path) -> bool:
    """Switch WAL archiving into `archive`/wal on (restarts the cluster the first time)."""
    return cluster.enable_wal_archive(wal_dir(archive))


def take_base_backup(cluster: LocalPostgres, archive: Path) -> Path:
    """A base backup into `archive`/base/<time>/, marked complete only once it is."""
    folder = cluster.base_backup(base_dir(archive))
    done = {"finished_at": datetime.now(UTC).isoformat()}
    (folder / DONE).write_text(json.dumps(done))
    return folder


@dataclass(frozen=True)
class Recovered:
    base: Path
    target: datetime
    kept: Path  # the cluster as it was before the restore


def _newest_base(archive: Path, target: datetime) -> Path:
    found: list[tuple[datetime, Path]] = []
    for folder in base_dir(archive).glob("*"):
        marker = folder / DONE
        if marker.is_file() and (folder / "base.tar.gz").is_file():
            finished = datetime.fromisoformat(json.loads(marker.read_text())["finished_at"])
            if finished <= target:
                found.append((finished, folder))
    if not found:
        msg = (
            f"no complete base backup in {base_dir(archive)} finished before "
            f"{target.isoformat()}; take one with 'geo-outreach db basebackup'"
        )
        raise RecoveryError(msg)
    return max(found)[1]


def restore_to_time(
    cluster: LocalPostgres,
    archive: Path,
    *,
    target: datetime,
    actor: str,
    log: Callable[[str], None],
    timeout: float = 600.0,
) -> Recovered:
    """Replace the cluster by its state at `target` (a time with a zone, not in the future).

    The WAL comes from the archive and, for its newest part, from the stopped cluster's own
    pg_wal (what was not archived yet), as PostgreSQL's manual says. When nothing was committed
    after `target`, PostgreSQL cannot tell it reached it: the cluster is then replayed to its
    very end, which is the same state."""
    if target.tzinfo is None:
        msg = "the time to restore to needs a time zone, e.g. 2026-01-31T22:00:00+01:00"
        raise RecoveryError(msg)
    if target > datetime.now(UTC):
        msg = f"{target.isoformat()} is in the future"
        raise RecoveryError(msg)
    base = _newest_base(archive, target)
    log(f"restoring {cluster.data_dir} to {target.isoformat()} from {base.name} …")
    cluster.stop()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = cluster.data_dir.with_name(f"{cluster.data_dir.name}.before-restore-{stamp}")
    cluster.data_dir.rename(kept)
    try:
        try:
            _recover(cluster, archive, base=base, kept=kept, target=target, timeout=timeout)
        except (RecoveryError, DatabaseUnavailable):
            if ENDED_EARLY not in _server_log(cluster):
                raise
            log("nothing was committed after that time: replaying to the end of the WAL …")
            _discard(cluster)
            _recover(cluster, archive, base=base, kept=kept, target=None, timeout=timeout)
            _check_complete(cluster, kept, archive)
    except Exception:
        failed = kept.with_name(f"{kept.name}.failed")
        if cluster.data_dir.exists():
            _discard(cluster, keep_as=failed)
        kept.rename(cluster.data_dir)
        cluster.start()
        log(f"the restore failed; the cluster is back as it was (the attempt: {failed})")
        raise
    _finish(cluster, actor=actor, target=target, base=base)
    log(f"restored; the cluster as it was before is kept in {kept}")
    return Recovered(base=base, target=target, kept=kept)


ENDED_EARLY = "recovery ended before configured recovery target was reached"


def _recover(
    cluster: LocalPostgres,
    archive: Path,
    *,
    base: Path,
    kept: Path,
    target: datetime | None,
    timeout: float,
) -> None:
    """Unpack the base backup, add the old cluster's WAL, replay up to `target` (None: to the
    end) and open for writing."""
    cluster.unpack_base_backup(base / "base.tar.gz")
    cluster.adopt_wal(kept)
    settings = {"restore_command": f'cp "{wal_dir(archive)}/%f" "%p"'}
    if target is not None:
        settings["recovery_target_time"] = target.astimezone(UTC).isoformat()
        settings["recovery_target_action"] = "promote"
    with (cluster.data_dir / "postgresql.auto.conf").open("a") as f:
        f.writelines(f"{k} = '{v}'\n" for k, v in settings.items())
    (cluster.data_dir / "recovery.signal").touch()
    cluster.start()
    _wait_promoted(cluster, timeout=timeout)


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


def remove_kept(recovered: Recovered) -> None:
    """Delete the cluster as it was before a restore (once the restored one is checked)."""
    shutil.rmtree(recovered.kept, ignore_errors=True)
