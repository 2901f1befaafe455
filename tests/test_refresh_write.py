"""refresh_maps.py writes references/ as one set (issue 13, D7): a failure while renaming
puts back what was already replaced, and leaves no temporary or backup file."""

from __future__ import annotations

import errno
import os

import pytest
from scvi_skill.build import refresh

NAMES = refresh.OUTPUTS


def _fail_on(monkeypatch, nth: int) -> None:
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst, *args, **kwargs):
        if str(src).endswith(".tmp"):
            calls["n"] += 1
            if calls["n"] == nth:
                raise OSError(errno.EIO, "Input/output error", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(refresh.os, "replace", flaky)


@pytest.mark.parametrize("nth", [1, 2, 3, 4])
def test_late_failure_leaves_the_old_set(tmp_path, monkeypatch, nth):
    old = {name: f"old {name}\n".encode() for name in NAMES}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    _fail_on(monkeypatch, nth)
    with pytest.raises(OSError):
        refresh.write_outputs({name: f"new {name}\n".encode() for name in NAMES}, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old


def test_late_failure_on_a_first_refresh_leaves_nothing(tmp_path, monkeypatch):
    _fail_on(monkeypatch, 3)
    with pytest.raises(OSError):
        refresh.write_outputs({name: b"new\n" for name in NAMES}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_all_and_leaves_no_backup(tmp_path):
    for name in NAMES:
        (tmp_path / name).write_bytes(b"old\n")
    written = refresh.write_outputs({name: f"new {name}\n".encode() for name in NAMES}, tmp_path)
    assert written == list(NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES)
    assert all((tmp_path / n).read_bytes() == f"new {n}\n".encode() for n in NAMES)
