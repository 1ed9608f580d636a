"""Issue 16, point-in-time recovery of the embedded cluster: WAL archived, encrypted, into a
folder, an encrypted base backup, then `restore_to_time` brings back exactly the rows committed
up to that moment, the restored cluster takes writes again, and what was redacted after that
moment is redacted again. Its own throw-away cluster (no demo: a probe table, then the schema)."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyrage
import pytest

from geo_outreach.core import db, migrate
from geo_outreach.core.pgserver import ADMIN_ROLE, LocalPostgres
from geo_outreach.demo.cluster import throwaway_cluster
from geo_outreach.ops import backup, pitr, retention

KEY = "pitr-test-passphrase-0123"
AGE_MAGIC = b"age-encryption.org/v1\n"
REDO = pitr.Redo(
    policy=retention.RetentionPolicy(
        note_months=24, login_days=90, idempotency_days=7, audit_years=5
    ),
    service_area=(17.9, 54.0, 19.3, 54.9),
)


def _sql(cluster: LocalPostgres, query: str, *params: object) -> list[tuple[object, ...]]:
    st = cluster.state()
    with psycopg.connect(
        host="127.0.0.1",
        port=st.port,
        user=ADMIN_ROLE,
        password=st.admin_password,
        dbname=st.database,
        autocommit=True,
    ) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def archived() -> Iterator[tuple[LocalPostgres, Path]]:
    # Not under pytest's basetemp: every root pytest session (a test may start one) chmods
    # /tmp/pytest-of-root to 0700, zeroing the ACL mask that lets the cluster's OS user in.
    folder = Path(tempfile.mkdtemp(prefix="geo-outreach-pitr-"))
    folder.chmod(0o755)  # run as root, the cluster's OS user writes the archive there
    archive = folder / "wal-archive"
    try:
        with throwaway_cluster() as cluster:
            # Autovacuum's ANALYZE commits; one after a test's target time would let recovery
            # reach that time, and "nothing was committed after it" would not hold.
            _sql(cluster, "ALTER SYSTEM SET autovacuum = off")
            _sql(cluster, "SELECT pg_reload_conf()")
            with pytest.raises(backup.BackupError, match="GEO_OUTREACH_BACKUP_KEY is not set"):
                pitr.enable(cluster, archive, key=None)
            assert pitr.enable(cluster, archive, key=KEY)
            assert not pitr.enable(cluster, archive, key=KEY), "enabling twice changes nothing"
            with pytest.raises(pitr.RecoveryError, match="not the key it was made with"):
                pitr.enable(cluster, archive, key="another-passphrase-xyz")
            yield cluster, archive
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _switch_and_archive(cluster: LocalPostgres, seconds: float = 60) -> str:
    """Close the current WAL segment and wait until the server has archived it."""
    segment = _sql(cluster, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    assert isinstance(segment, str)
    deadline = time.monotonic() + seconds
    while True:
        done = _sql(cluster, "SELECT last_archived_wal FROM pg_stat_archiver")[0][0]
        if isinstance(done, str) and done[8:] >= segment[8:]:
            return segment
        assert time.monotonic() < deadline, f"{segment} was not archived"
        time.sleep(0.2)


def _now(cluster: LocalPostgres) -> datetime:
    when = _sql(cluster, "SELECT clock_timestamp()")[0][0]
    assert isinstance(when, datetime)
    return when


def test_restore_to_a_time_brings_back_exactly_what_was_committed_by_then(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    _sql(cluster, "CREATE TABLE probe (n int PRIMARY KEY, secret text)")
    _sql(cluster, "INSERT INTO probe VALUES (1, 'needle-in-the-wal-1')")
    base = pitr.take_base_backup(cluster, archive, key=KEY)
    _sql(cluster, "INSERT INTO probe VALUES (2, 'needle-in-the-wal-2')")
    target = _now(cluster)
    time.sleep(0.5)
    _sql(cluster, "INSERT INTO probe VALUES (3, 'needle-in-the-wal-3')")
    segment = _switch_and_archive(cluster)

    # The archive holds row data: its owner only, and encrypted, every file.
    assert oct(pitr.wal_dir(archive).stat().st_mode & 0o777) == "0o700"
    files = sorted(pitr.wal_dir(archive).iterdir())
    assert pitr.wal_dir(archive) / f"{segment}.age" in files
    for path in files:
        assert path.name.endswith(".age"), path
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
        raw = path.read_bytes()
        assert raw.startswith(AGE_MAGIC) and b"needle-in-the-wal" not in raw, path

    lines: list[str] = []
    done = pitr.restore_to_time(
        cluster, archive, target=target, key=KEY, redo=REDO, actor="test", log=lines.append
    )

    assert done.base == base.folder and done.kept.is_dir()
    assert [r[0] for r in _sql(cluster, "SELECT n FROM probe ORDER BY n")] == [1, 2]
    assert _sql(cluster, "SELECT pg_is_in_recovery()")[0][0] is False
    _sql(cluster, "INSERT INTO probe VALUES (4)")  # open for writing again
    auto = (cluster.data_dir / "postgresql.auto.conf").read_text()
    assert "recovery_target" not in auto, "the recovery target must not act at the next start"
    assert "restore_command" not in auto
    assert not (cluster.data_dir / "recovery.signal").exists()
    assert not (cluster.data_dir / pitr.RESTORE_IDENTITY).exists(), "the WAL key is removed"
    pitr.remove_kept(done)
    assert not done.kept.exists()


def test_the_base_backup_is_encrypted_private_and_needs_the_key(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    with pytest.raises(backup.BackupError, match="GEO_OUTREACH_BACKUP_KEY is not set"):
        pitr.take_base_backup(cluster, archive, key=None)
    done = pitr.take_base_backup(cluster, archive, key=KEY)
    path = done.folder / pitr.BASE_FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in done.folder.iterdir() if p.name.endswith(".partial")] == []
    raw = path.read_bytes()
    assert raw.startswith(AGE_MAGIC) and done.file_bytes == len(raw)
    with pytest.raises(tarfile.ReadError):
        tarfile.open(path).close()
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(raw)
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(raw, [pyrage.x25519.Identity.generate()])
    # Only the archive's private key opens it, and only GEO_OUTREACH_BACKUP_KEY opens that.
    sealed = (archive / pitr.IDENTITY).read_bytes()
    assert sealed.startswith(AGE_MAGIC) and b"AGE-SECRET-KEY" not in sealed
    with pytest.raises(pyrage.DecryptError):
        pyrage.passphrase.decrypt(sealed, "not-the-right-passphrase")
    identity = pyrage.x25519.Identity.from_str(pyrage.passphrase.decrypt(sealed, KEY).decode())
    # With it: the whole cluster, the state file with its passwords among it.
    with tarfile.open(fileobj=io.BytesIO(pyrage.decrypt(raw, [identity]))) as tar:
        names = tar.getnames()
    assert "geo-outreach.json" in names and "backup_label" in names


def test_a_restore_without_or_with_a_wrong_key_is_refused_and_nothing_is_touched(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    _sql(cluster, "CREATE TABLE keyed (n int)")
    pitr.take_base_backup(cluster, archive, key=KEY)
    _sql(cluster, "INSERT INTO keyed VALUES (1)")
    now = _now(cluster)
    siblings = sorted(cluster.data_dir.parent.iterdir())
    with pytest.raises(pitr.RecoveryError, match="GEO_OUTREACH_BACKUP_KEY is not set"):
        pitr.restore_to_time(
            cluster, archive, target=now, key=None, redo=REDO, actor="t", log=print
        )
    with pytest.raises(pitr.RecoveryError, match="not the key it was made with"):
        pitr.restore_to_time(
            cluster,
            archive,
            target=now,
            key="wrong-passphrase-123",
            redo=REDO,
            actor="t",
            log=print,
        )
    assert cluster.is_running() and _sql(cluster, "SELECT n FROM keyed") == [(1,)]
    assert sorted(cluster.data_dir.parent.iterdir()) == siblings, "no folder moved or made"


def test_a_time_after_the_last_commit_gives_the_newest_state_also_unarchived_wal(
    archived: tuple[LocalPostgres, Path],
) -> None:
    """PostgreSQL cannot tell it reached a time no commit follows: the restore replays to the
    end instead, which includes the WAL not archived yet (taken from the old pg_wal)."""
    cluster, archive = archived
    _sql(cluster, "CREATE TABLE late (n int)")
    pitr.take_base_backup(cluster, archive, key=KEY)
    _sql(cluster, "INSERT INTO late VALUES (1), (2)")  # in a segment not archived yet
    target = _now(cluster)
    lines: list[str] = []
    done = pitr.restore_to_time(
        cluster, archive, target=target, key=KEY, redo=REDO, actor="test", log=lines.append
    )
    assert any("end of the WAL" in line for line in lines), lines
    assert _sql(cluster, "SELECT n FROM late ORDER BY n") == [(1,), (2,)]
    _sql(cluster, "INSERT INTO late VALUES (3)")
    pitr.remove_kept(done)


def test_a_time_before_any_base_backup_is_refused_and_nothing_is_touched(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    _sql(cluster, "CREATE TABLE untouched (n int)")
    pitr.take_base_backup(cluster, archive, key=KEY)
    early = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(pitr.RecoveryError, match="no complete base backup"):
        pitr.restore_to_time(
            cluster, archive, target=early, key=KEY, redo=REDO, actor="test", log=print
        )
    assert cluster.is_running() and _sql(cluster, "SELECT count(*) FROM untouched") == [(0,)]


def _visit(cluster: LocalPostgres, site: object, visited_at: str, note: str) -> uuid.UUID:
    row = _sql(
        cluster,
        "INSERT INTO visits (site_id, visited_at, people_met, note, note_sensitive, created_by) "
        "VALUES (%s, %s, 1, %s, true, 't') RETURNING id",
        site,
        visited_at,
        note,
    )
    found = row[0][0]
    assert isinstance(found, uuid.UUID)
    return found


def test_notes_redacted_after_the_time_restored_to_stay_redacted(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    migrate.upgrade(cluster.url(admin=True))
    site = _sql(
        cluster,
        "INSERT INTO sleeping_sites (code, name, category, created_by, updated_by, geom) "
        "VALUES ('P-1', 'x', 'inne', 't', 't', ST_SetSRID(ST_MakePoint(18.6, 54.35), 4326)) "
        "RETURNING id",
    )[0][0]
    old = _visit(cluster, site, "2020-02-01T21:00Z", "old note about a person")
    recent = _visit(cluster, site, datetime.now(UTC).isoformat(), "written by mistake")
    pitr.take_base_backup(cluster, archive, key=KEY)
    target = _now(cluster)
    time.sleep(0.5)
    # After that time: a retention run redacts the old note, an admin the recent one.
    engine = db.make_engine(cluster.url(admin=True))
    try:
        with db.session_scope(engine) as session:
            assert retention.run(session, REDO.policy, actor="cli:ops", role="cli").notes_redacted
            assert retention.redact_visit(
                session, recent, reason="about a named person", actor="cli:admin", role="cli"
            )
    finally:
        engine.dispose()
    _switch_and_archive(cluster)

    lines: list[str] = []
    done = pitr.restore_to_time(
        cluster, archive, target=target, key=KEY, redo=REDO, actor="test", log=lines.append
    )

    notes = {r[0]: r[1] for r in _sql(cluster, "SELECT id, note FROM visits")}
    assert notes == {old: retention.REDACTED, recent: retention.REDACTED}
    assert done.redactions == 1 and done.retention is not None
    assert done.retention.notes_redacted == 1
    # The audit rows written after the time are not lost, and the re-redaction is recorded.
    rows = _sql(
        cluster,
        "SELECT actor, action, layer, detail->>'reason' FROM audit_log "
        "WHERE action IN ('redact', 'retention') ORDER BY id",
    )
    assert [r[:3] for r in rows] == [
        ("cli:ops", "retention", "retention"),
        ("cli:admin", "redact", "visits"),
        ("test", "redact", "visits"),
        ("test", "retention", "retention"),
    ]
    assert rows[1][3] == "about a named person"
    assert rows[2][3] == f"made again after a restore to {target.isoformat()}"
    # The cluster as it was is kept, unredacted, until removed.
    assert done.kept.is_dir()
    pitr.remove_kept(done)


def _segments(archive: Path) -> set[str]:
    """The archived WAL segments' names (not the timeline history or backup history files)."""
    return {
        p.name.removesuffix(".age")
        for p in pitr.wal_dir(archive).iterdir()
        if len(p.name) == 28 and p.name.endswith(".age")
    }


def test_pruning_keeps_the_newest_base_backups_and_the_wal_they_need(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    taken = []
    for _ in range(2):
        _switch_and_archive(cluster)
        taken.append(pitr.take_base_backup(cluster, archive, key=KEY))
        _switch_and_archive(cluster)
    unfinished = pitr.base_dir(archive) / "20200101T000000Z"
    unfinished.mkdir()
    (unfinished / "base.tar.gz").write_bytes(b"an unencrypted leftover")
    before = _segments(archive)

    last = pitr.take_base_backup(cluster, archive, key=KEY, keep=2)

    kept = sorted(p for p in pitr.base_dir(archive).iterdir())
    assert kept == [taken[-1].folder, last.folder]
    oldest = taken[-1].start_wal[8:]  # timelines aside, segments are ordered by their tail
    wal = _segments(archive)
    assert wal and min(n[8:] for n in wal) == oldest, "the WAL from the oldest kept one stays"
    gone = {n for n in before if n[8:] < oldest}
    assert gone and not gone & wal, "the WAL before it is deleted"
    assert {pitr.wal_dir(archive) / f"{n}.age" for n in gone} <= set(last.removed)
    assert {p.folder for p in taken[:-1]} | {unfinished} <= set(last.removed)
