"""After a database failure the pool is checked once in the background, not
on every failure (collab_project/dbpool.py)."""
import threading

from collab_project import dbpool


class FakePool:
    def __init__(self):
        self.checked = threading.Event()
        self.calls = 0

    def check(self):
        self.calls += 1
        self.checked.set()


def test_a_failure_starts_one_pool_check_and_repeats_wait(monkeypatch):
    pool = FakePool()
    monkeypatch.setattr(dbpool, "connection", type("Conn", (), {"pool": pool})())
    monkeypatch.setattr(dbpool, "_last", -dbpool.CHECK_EVERY_S)
    assert dbpool.pool_suspect() is True
    assert pool.checked.wait(5)
    assert dbpool.pool_suspect() is False  # within CHECK_EVERY_S of the last one
    monkeypatch.setattr(dbpool, "_last", -dbpool.CHECK_EVERY_S)
    pool.checked.clear()
    assert dbpool.pool_suspect() is True and pool.checked.wait(5)
    assert pool.calls == 2


def test_without_a_pool_nothing_is_checked(monkeypatch):
    monkeypatch.setattr(dbpool, "connection", type("Conn", (), {"pool": None})())
    monkeypatch.setattr(dbpool, "_last", -dbpool.CHECK_EVERY_S)
    assert dbpool.pool_suspect() is False


def test_no_second_check_while_one_is_still_running(monkeypatch):
    release = threading.Event()

    class SlowPool(FakePool):
        def check(self):
            super().check()
            release.wait(5)  # a check stuck on a database that drops packets

    pool = SlowPool()
    monkeypatch.setattr(dbpool, "connection", type("Conn", (), {"pool": pool})())
    monkeypatch.setattr(dbpool, "_last", -dbpool.CHECK_EVERY_S)
    assert dbpool.pool_suspect() is True and pool.checked.wait(5)
    monkeypatch.setattr(dbpool, "_last", -dbpool.CHECK_EVERY_S)  # the interval is over, the check is not
    assert dbpool.pool_suspect() is False
    release.set()
    dbpool._running.join(5)
    assert dbpool.pool_suspect() is True and pool.calls == 2
