"""File-descriptor limits for agents with many clients."""

from __future__ import annotations

import resource

import pytest

from pytest_frida.workload import limits


def test_raises_soft_limit_to_what_clients_need(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 65536))
    monkeypatch.setattr(resource, "setrlimit", lambda _, v: calls.append(v))
    got = limits.raise_fd_limit(1000)
    need = limits.BASE_FDS + 1000 * limits.FDS_PER_CLIENT
    assert got == need
    assert calls == [(need, 65536)]


def test_leaves_a_sufficient_limit_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (100_000, 100_000))
    monkeypatch.setattr(resource, "setrlimit", lambda *_: pytest.fail("must not lower"))
    assert limits.raise_fd_limit(10) == 100_000


def test_hard_limit_too_low_says_what_to_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    with pytest.raises(limits.LimitError, match=r"hard limit is 4096; raise it"):
        limits.raise_fd_limit(1000)


def test_thread_limit_too_low_says_what_to_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (100, 200))
    with pytest.raises(limits.LimitError, match=r"hard process limit is 200; raise it"):
        limits.check_thread_limit(1000)


def test_thread_limit_is_raised_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (100, resource.RLIM_INFINITY))
    monkeypatch.setattr(resource, "setrlimit", lambda _, v: calls.append(v))
    limits.check_thread_limit(100)
    assert calls == [
        (limits.BASE_THREADS + 100 * limits.THREADS_PER_CLIENT, resource.RLIM_INFINITY)
    ]
