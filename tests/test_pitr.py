"""Issue 16, point-in-time recovery of the embedded cluster: WAL archived into a folder, a base
backup, then `restore_to_time` brings back exactly the rows committed up to that moment, and
the restored cluster takes writes again. Its own throw-away cluster (no demo: a probe table)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from geo_outreach.core.pgserver import ADMIN_ROLE, LocalPostgres
from geo_outreach.demo.cluster import throwaway_cluster
from geo_outreach.ops import pitr


def _sql(cluster: LocalPostgres, query: str) -> list[tuple[object, ...]]:
    st = cluster.state()
    with psycopg.connect(
        host="127.0.0.1",
        port=st.port,
        user=ADMIN_ROLE,
        password=st.admin_password,
        dbname=st.database,
        autocommit=True,
    ) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPostgres, Path]]:
    folder = tmp_path_factory.mktemp("pitr")
    folder.chmod(0o755)  # run as root, the cluster's OS user writes the archive there
    archive = folder / "wal-archive"
    with throwaway_cluster() as cluster:
        assert pitr.enable(cluster, archive)
        assert not pitr.enable(cluster, archive), "enabling twice changes nothing"
        yield cluster, archive


def _archived_upto(cluster: LocalPostgres, wal_file: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        done = _sql(cluster, "SELECT last_archived_wal FROM pg_stat_archiver")[0][0]
        if isinstance(done, str) and done >= wal_file:
            return
        assert time.monotonic() < deadline, f"{wal_file} was not archived"
        time.sleep(0.2)


def test_restore_to_a_time_brings_back_exactly_what_was_committed_by_then(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    _sql(cluster, "CREATE TABLE probe (n int PRIMARY KEY)")
    _sql(cluster, "INSERT INTO probe VALUES (1)")
    base = pitr.take_base_backup(cluster, archive)
    _sql(cluster, "INSERT INTO probe VALUES (2)")
    target = _sql(cluster, "SELECT clock_timestamp()")[0][0]
    assert isinstance(target, datetime)
    time.sleep(0.5)
    _sql(cluster, "INSERT INTO probe VALUES (3)")
    segment = _sql(cluster, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    assert isinstance(segment, str)
    _archived_upto(cluster, segment)
    archived_mode = oct(pitr.wal_dir(archive).stat().st_mode & 0o777)
    assert archived_mode == "0o700", "the archive holds row data: its owner only"

    lines: list[str] = []
    done = pitr.restore_to_time(cluster, archive, target=target, actor="test", log=lines.append)

    assert done.base == base and done.kept.is_dir()
    assert [r[0] for r in _sql(cluster, "SELECT n FROM probe ORDER BY n")] == [1, 2]
    assert _sql(cluster, "SELECT pg_is_in_recovery()")[0][0] is False
    _sql(cluster, "INSERT INTO probe VALUES (4)")  # open for writing again
    auto = (cluster.data_dir / "postgresql.auto.conf").read_text()
    assert "recovery_target" not in auto, "the recovery target must not act at the next start"
    assert not (cluster.data_dir / "recovery.signal").exists()
    pitr.remove_kept(done)
    assert not done.kept.exists()


def test_a_time_after_the_last_commit_gives_the_newest_state_also_unarchived_wal(
    archived: tuple[LocalPostgres, Path],
) -> None:
    """PostgreSQL cannot tell it reached a time no commit follows: the restore replays to the
    end instead, which includes the WAL not archived yet (taken from the old pg_wal)."""
    cluster, archive = archived
    _sql(cluster, "CREATE TABLE late (n int)")
    pitr.take_base_backup(cluster, archive)
    _sql(cluster, "INSERT INTO late VALUES (1), (2)")  # in a segment not archived yet
    target = _sql(cluster, "SELECT clock_timestamp()")[0][0]
    assert isinstance(target, datetime)
    lines: list[str] = []
    done = pitr.restore_to_time(cluster, archive, target=target, actor="test", log=lines.append)
    assert any("end of the WAL" in line for line in lines), lines
    assert _sql(cluster, "SELECT n FROM late ORDER BY n") == [(1,), (2,)]
    _sql(cluster, "INSERT INTO late VALUES (3)")
    pitr.remove_kept(done)


def test_a_time_before_any_base_backup_is_refused_and_nothing_is_touched(
    archived: tuple[LocalPostgres, Path],
) -> None:
    cluster, archive = archived
    _sql(cluster, "CREATE TABLE untouched (n int)")
    pitr.take_base_backup(cluster, archive)
    early = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(pitr.RecoveryError, match="no complete base backup"):
        pitr.restore_to_time(cluster, archive, target=early, actor="test", log=print)
    assert cluster.is_running() and _sql(cluster, "SELECT count(*) FROM untouched") == [(0,)]
