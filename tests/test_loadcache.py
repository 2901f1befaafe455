"""The per-user cache of decoded references (scvi_skill.runtime.loadcache): used when it matches
the file's content, ignored when it does not or cannot be trusted, never required."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from scvi_skill.runtime import index as index_mod  # noqa: E402
from scvi_skill.runtime import loadcache  # noqa: E402
from scvi_skill.runtime.errors import IndexStale, TreeNotFound  # noqa: E402
from scvi_skill.runtime.tree import discover_tree  # noqa: E402


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "trees"
    monkeypatch.setenv("SCVI_SKILL_CACHE", str(folder))
    monkeypatch.delenv(loadcache.DISABLE_ENV, raising=False)
    monkeypatch.setattr(index_mod, "_CACHE", {})
    # Only the skill's own references are cached: here, the files the tests write.
    monkeypatch.setattr(index_mod, "REFERENCES_DIR", tmp_path)
    return folder / loadcache.CACHE_DIR_NAME


def _write(path: Path, data: dict) -> bytes:
    raw = json.dumps(data).encode()
    path.write_bytes(raw)
    return raw


def _key(raw: bytes) -> str:
    """The content key of ``raw``, computed here on its own (length and CRC-32)."""
    return f"{len(raw)}.{zlib.crc32(raw):08x}"


def _stamp(path: Path) -> str:
    """The stamp key of ``path``, computed here on its own."""
    info = path.stat()
    return (f"s{info.st_size}.{info.st_dev:x}.{info.st_ino:x}.{info.st_mtime_ns:x}"
            f".{info.st_ctime_ns:x}")


def _load(path: Path) -> dict:
    index_mod._CACHE.clear()
    return index_mod.load_json(path, expected_format=3, what="test index", lazy=("terms", "flat"))


def test_a_load_writes_one_cache_file_and_the_next_load_reads_it(tmp_path, cache):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3, "terms": {"seed": [[1, 2.5]]}})
    assert _load(source)["terms"] == {"seed": [[1, 2.5]]}
    files = list(cache.iterdir())
    assert [f.name for f in files] == [loadcache.cache_path(source, _stamp(source)).name]
    # Prove the second load reads the cache, not the JSON: plant a different object under
    # the same key.
    files[0].write_bytes(loadcache.encode((_stamp(source),
                                           {"format": 3, "terms": {"from": "cache"}}, ())))
    assert _load(source)["terms"] == {"from": "cache"}


def test_a_cached_load_does_not_read_the_file(tmp_path, cache, monkeypatch):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3, "value": 1})
    assert _load(source)["value"] == 1

    read_bytes = Path.read_bytes

    def refuse(self):
        if self == source:
            raise AssertionError(f"read {self}")
        return read_bytes(self)  # the cache file

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert _load(source)["value"] == 1
    source.write_text(json.dumps({"format": 3, "value": 2}))  # another stamp: read again
    with pytest.raises(AssertionError, match="read"):
        _load(source)


def test_where_stamps_cannot_be_trusted_the_content_names_the_cache(tmp_path, cache,
                                                                    monkeypatch):
    monkeypatch.setattr(loadcache, "STAMPED", False)
    source = tmp_path / "search_index.json"
    raw = _write(source, {"format": 3, "value": 1})
    assert _load(source)["value"] == 1
    assert [f.name for f in cache.iterdir()] == [loadcache.cache_path(source, _key(raw)).name]
    assert _load(source)["value"] == 1  # read back from the cache
    stat = source.stat()
    _write(source, {"format": 3, "value": 2})
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _load(source)["value"] == 2
    assert len(list(cache.iterdir())) == 2


def test_an_edited_file_never_meets_its_old_cache(tmp_path, cache):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3, "value": 1})
    assert _load(source)["value"] == 1
    stat = source.stat()
    _write(source, {"format": 3, "value": 2})
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and timestamps
    assert _load(source)["value"] == 2
    assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("content", [
    b"", b"garbage", loadcache.encode(("not", "a", "triple", "at all")),
    loadcache.encode(("0.00000000", {"format": 3, "value": 9}, ())),  # another content's key
    "old layout",  # (key, data): a cache file written before large tables were stored by row
    "lazy name not a table",
    "no checksum",  # the marshal bytes alone
    "damaged",  # one byte changed after the checksum was written
])
def test_a_broken_or_foreign_cache_file_is_ignored(tmp_path, cache, content):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3, "value": 1})
    key = _stamp(source)
    if content == "old layout":
        content = loadcache.encode((key, {"format": 3, "value": 9}))
    elif content == "lazy name not a table":
        content = loadcache.encode((key, {"format": 3, "value": 9}, ("value",)))
    elif content == "no checksum":
        content = marshal.dumps((key, {"format": 3, "value": 9}, ()))
    elif content == "damaged":
        # a value whose four bytes the checksum in front will not hold by chance (a byte of 9
        # alone did, now and then: the checksum changes with the file's timestamp)
        good = bytearray(loadcache.encode((key, {"format": 3, "value": 123456789}, ())))
        stored = (123456789).to_bytes(4, "little")
        assert good.count(stored) == 1
        at = good.index(stored)
        good[at:at + 4] = (987654321).to_bytes(4, "little")  # checksum unchanged
        content = bytes(good)
    cache.mkdir(parents=True)
    loadcache.cache_path(source, key).write_bytes(content)
    assert _load(source)["value"] == 1


def test_large_tables_are_cached_row_by_row_and_read_back_the_same(tmp_path, cache):
    source = tmp_path / "search_index.json"
    rows = loadcache.LAZY_MIN_ROWS
    terms = {f"t{i}": ["1:5 2:7", "", str(i)] for i in range(rows)}
    data = {"format": 3, "terms": terms, "small": {"a": [1]},
            "flat": {f"k{i}": i for i in range(rows)}}
    _write(source, data)
    assert type(_load(source)["terms"]) is dict  # decoded from JSON the first time
    again = _load(source)  # then from the cache
    table = again["terms"]
    assert type(table) is loadcache.LazyRows
    assert type(again["small"]) is dict and type(again["flat"]) is dict  # left as they are
    assert len(table) == rows and "t7" in table and "nope" not in table
    assert type(dict.__getitem__(table, "t7")) is bytes  # nothing decoded yet
    assert table["t7"] == ["1:5 2:7", "", "7"] and table.get("t8") == terms["t8"]
    assert table.get("nope") is None and table.get("nope", 3) == 3
    assert type(dict.__getitem__(table, "t7")) is list  # decoded once, kept
    with pytest.raises(KeyError):
        table["nope"]
    assert table == terms and dict(table.items()) == terms and table.values() == list(terms.values())
    assert table != {**terms, "t0": []}
    assert {k: v for k, v in again.items() if k != "terms"} == \
        {k: v for k, v in data.items() if k != "terms"}


def test_a_symlinked_cache_file_is_not_followed(tmp_path, cache):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3, "value": 1})
    planted = tmp_path / "planted.marshal"
    planted.write_bytes(loadcache.encode((_stamp(source),
                                          {"format": 3, "value": 666}, ())))
    cache.mkdir(parents=True)
    loadcache.cache_path(source, _stamp(source)).symlink_to(planted)
    assert _load(source)["value"] == 1


def test_a_wrong_format_is_refused_and_not_cached(tmp_path, cache):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 99})
    with pytest.raises(IndexStale, match="format 99"):
        _load(source)
    assert not cache.exists() or not list(cache.iterdir())


def test_the_cache_can_be_turned_off(tmp_path, cache, monkeypatch):
    monkeypatch.setenv(loadcache.DISABLE_ENV, "1")
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3})
    assert _load(source) == {"format": 3}
    assert not cache.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_an_unwritable_cache_folder_changes_nothing(tmp_path, cache, capsys):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3, "value": 1})
    cache.parent.mkdir(parents=True)
    cache.parent.chmod(0o500)
    try:
        assert _load(source)["value"] == 1
    finally:
        cache.parent.chmod(0o700)
    assert capsys.readouterr().err == ""


def test_a_cache_folder_that_is_a_file_changes_nothing(tmp_path, cache, capsys):
    source = tmp_path / "search_index.json"
    _write(source, {"format": 3, "value": 1})
    cache.parent.mkdir(parents=True)
    cache.write_text("not a folder")
    assert _load(source)["value"] == 1
    assert cache.read_text() == "not a folder"
    assert capsys.readouterr().err == ""


def test_old_cache_files_are_pruned_to_keep_and_others_are_left(tmp_path, cache):
    source = tmp_path / "search_index.json"
    cache.mkdir(parents=True)
    stranger = cache / "notes.txt"
    stranger.write_text("not ours")
    other = cache / f"index.1.00000000{loadcache.SUFFIX}"
    other.write_bytes(b"another reference's cache")
    for value in range(loadcache.KEEP + 3):
        _write(source, {"format": 3, "value": value})
        _load(source)
    mine = [f for f in cache.iterdir() if f.name.startswith("search_index.")]
    assert len(mine) == loadcache.KEEP
    assert stranger.read_text() == "not ours" and other.exists()
    assert not [f for f in cache.iterdir() if f.name.startswith(".tmp-")]


def test_resolve_docs_prints_the_same_pack_with_and_without_the_cache(tmp_path):
    env = dict(os.environ, SCVI_SKILL_CACHE=str(tmp_path / "trees"))
    try:  # quote passages from the real tree when there is one
        env.setdefault("SCVI_TOOLS_TREE", str(discover_tree().root))
    except TreeNotFound:
        pass
    question = "Should donor go in batch_key or categorical_covariate_keys?"
    cmd = [sys.executable, str(SCRIPTS / "resolve_docs.py"), "--json", question]
    outputs = []
    for disable in ("1", "0", "0"):
        env[loadcache.DISABLE_ENV] = disable
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert [f.name.split(".")[0] for f in (tmp_path / "trees" / loadcache.CACHE_DIR_NAME).iterdir()] \
        == ["search_index"]


def test_gzipped_api_indexes_are_cached_and_read_back(tmp_path, cache):
    import gzip

    from scvi_skill.runtime import apifiles

    source = tmp_path / "history.json.gz"
    raw = gzip.compress(json.dumps({"names": {"scvi.model.SCVI": [[0, 3]]}}).encode(), mtime=0)
    source.write_bytes(raw)
    first = apifiles.read_api_file(source)
    assert loadcache.cache_path(source, _stamp(source)).is_file()
    assert apifiles.read_api_file(source) == first == {"names": {"scvi.model.SCVI": [[0, 3]]}}
    source.write_bytes(b"not gzip")
    with pytest.raises(IndexStale, match="cannot read the API index"):
        apifiles.read_api_file(source)
