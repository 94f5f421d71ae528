"""The index builder's state cache: copies of a catalog's files by hard link.

The expected values are POSIX's own semantics, checked by hand: a hard link shares its
source's inode (``st_ino``, ``st_nlink``), a symlink linked with ``linkat`` without
``AT_SYMLINK_FOLLOW`` stays a symlink with the same target, and a file's size is ``st_size``.
The catalog is a real one (keda's bundle, rendered and cached by ``services.catalog``)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from services.catalog import (
    CatalogDir,
    add_bundles,
    directory_tree,
    render_bundle,
    write_serving_cache,
)
from services.common.processes import wait_until
from services.index_builder.state import (
    IndexState,
    PartLayer,
    StateCache,
    _cp_link_tree,
    _link_tree,
)
from services.tooling.demo.images import FIXTURES_ROOT


def _state(root: Path) -> IndexState:
    configs = root / "configs"
    configs.mkdir(parents=True)
    catalog = CatalogDir.open(configs)
    bundle = render_bundle(FIXTURES_ROOT / "keda" / "1.4.1", f"q.io/keda@sha256:{1:064x}")
    catalog.apply(add_bundles(catalog, [bundle]).changes)
    os.chmod(configs / "keda", 0o750)
    cache = write_serving_cache(catalog, root / "cache", directory_tree(configs))
    part = PartLayer("keda", "sha256:" + "a" * 64, "sha256:" + "b" * 64, 10, "made", "f")
    return IndexState(configs, root / "cache", cache, [part], frozenset({"keda"}), "q.io/i:1")


def _tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under ``root``: kind, permission bits and inode (0 for directories)."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "link" if path.is_symlink() else "file"
        found[str(path.relative_to(root))] = (
            kind,
            stat.S_IMODE(st.st_mode),
            0 if kind == "dir" else st.st_ino,
        )
    return found


def test_a_fork_links_every_file_keeps_modes_and_leaves_out_the_top_digest(
    tmp_path: Path,
) -> None:
    state = _state(tmp_path / "built")
    (state.cache_dir / "cache" / "digest").write_text("not the top one")
    fork = state.fork(tmp_path / "fork")

    source, copy = _tree(state.configs), _tree(fork.configs)
    assert copy == source and any(k == "file" for k, _, _ in copy.values())
    assert copy["keda"][1] == 0o750
    cache_source, cache_copy = _tree(state.cache_dir), _tree(fork.cache_dir)
    assert "digest" in cache_source and "digest" not in cache_copy
    del cache_source["digest"]
    assert cache_copy == cache_source
    assert "cache/digest" in cache_copy  # only the top one is left out
    assert fork.key == state.key and fork.changed == set()


def test_symlinks_are_copied_as_symlinks_never_followed(tmp_path: Path) -> None:
    state = _state(tmp_path / "built")
    secret = tmp_path / "outside.txt"
    secret.write_text("outside the tree")
    (state.configs / "keda" / "escape").symlink_to(secret)
    (state.configs / "elsewhere").symlink_to(tmp_path)
    fork = state.fork(tmp_path / "fork")

    escape = fork.configs / "keda" / "escape"
    assert escape.is_symlink() and os.readlink(escape) == str(secret)
    assert os.stat(secret).st_nlink == 1  # the outside file was not linked
    elsewhere = fork.configs / "elsewhere"
    assert elsewhere.is_symlink() and os.readlink(elsewhere) == str(tmp_path)


def test_cp_links_the_tree_as_the_walk_does(tmp_path: Path) -> None:
    """A fork's trees are linked by one ``cp`` process (the walk in Python is its fallback):
    on one filesystem cp is used, and gives the tree the walk gives, modes, links and
    symlinks included; it refuses a destination that exists (the fallback would merge)."""
    state = _state(tmp_path / "built")
    (state.configs / "keda" / "escape").symlink_to(tmp_path)
    os.chmod(state.configs, 0o711)
    assert _cp_link_tree(state.configs, tmp_path / "by-cp" / "configs")
    _link_tree(state.configs, tmp_path / "walked" / "configs")

    by_cp, walked = _tree(tmp_path / "by-cp" / "configs"), _tree(tmp_path / "walked" / "configs")
    assert by_cp == walked == _tree(state.configs)
    assert stat.S_IMODE(os.stat(tmp_path / "by-cp" / "configs").st_mode) == 0o711
    assert not _cp_link_tree(state.configs, tmp_path / "walked" / "configs")


def test_a_kept_state_comes_back_as_linked_files(tmp_path: Path) -> None:
    state = _state(tmp_path / "built")
    cache = StateCache(tmp_path / "states", max_bytes=1 << 30)
    cache.put(state)

    entry = tmp_path / "states" / state.key
    meta = json.loads((entry / "state.json").read_text())
    sizes = {
        os.lstat(p).st_ino: os.lstat(p).st_size
        for root in (state.configs, state.cache_dir)
        for p in root.rglob("*")
        if p.is_file()
    }
    assert meta["bytes"] == sum(sizes.values())

    got = cache.get(state.key, tmp_path / "next")
    assert got is not None
    assert got.key == state.key and got.parts == state.parts and got.source == state.source
    assert got.fbc_packages == state.fbc_packages
    assert got.cache.digest == state.cache.digest and got.cache.owners == state.cache.owners
    assert _tree(got.configs) == _tree(state.configs)
    assert _tree(got.cache_dir) == _tree(state.cache_dir)
    assert [e.path for e in got.cache.cache_tree] == [e.path for e in state.cache.cache_tree]


def test_a_state_moved_into_the_cache_is_the_same_as_a_linked_one(tmp_path: Path) -> None:
    linked, moved = _state(tmp_path / "linked"), _state(tmp_path / "moved")
    before = _tree(moved.configs), _tree(moved.cache_dir)
    StateCache(tmp_path / "a", max_bytes=1 << 30).put(linked)
    StateCache(tmp_path / "b", max_bytes=1 << 30).put(moved, move=True)

    assert not moved.configs.exists() and not moved.cache_dir.exists()
    entry = tmp_path / "b" / moved.key
    assert (_tree(entry / "configs"), _tree(entry / "cache")) == before  # the very same inodes

    def meta(root: Path) -> dict[str, object]:
        return dict(json.loads((root / linked.key / "state.json").read_text()))

    assert meta(tmp_path / "a") == meta(tmp_path / "b")
    got = StateCache(tmp_path / "b", max_bytes=1 << 30).get(moved.key, tmp_path / "next")
    assert got is not None and got.cache.digest == linked.cache.digest


def test_an_unreadable_entry_is_a_miss_and_is_dropped(tmp_path: Path) -> None:
    state = _state(tmp_path / "built")
    cache = StateCache(tmp_path / "states", max_bytes=1 << 30)
    cache.put(state)
    (tmp_path / "states" / state.key / "state.json").write_text("{not json")
    assert cache.get(state.key, tmp_path / "next") is None
    assert not (tmp_path / "states" / state.key).exists()


def test_the_least_recently_used_state_goes_first(tmp_path: Path) -> None:
    first, second = _state(tmp_path / "a"), _state(tmp_path / "b")
    second.parts = [PartLayer("keda", "sha256:" + "c" * 64, "sha256:" + "d" * 64, 1, "m", "f")]
    probe = StateCache(tmp_path / "probe", max_bytes=1 << 30)
    probe.put(first)
    size = json.loads((tmp_path / "probe" / first.key / "state.json").read_text())["bytes"]

    states = tmp_path / "states"
    states.mkdir()
    leftover = states / ".trash-left-by-a-killed-worker"  # deleted by the next eviction too
    (leftover / "configs").mkdir(parents=True)
    cache = StateCache(states, max_bytes=size + size // 2)  # room for one
    cache.put(first)
    cache.put(second)
    assert not (states / first.key).exists()  # out of the cache at once
    assert cache.get(second.key, tmp_path / "next") is not None
    # evicted entries are deleted by a background thread: wait for it (bounded)
    wait_until(
        lambda: sorted(p.name for p in states.iterdir()) == [second.key],
        30,
        "the deletion of the evicted entries",
    )


@pytest.mark.skipif(
    not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat("/tmp").st_dev,
    reason="needs a second filesystem (/dev/shm) to copy across",
)
def test_across_filesystems_files_are_copied(tmp_path: Path) -> None:
    """A fork into another filesystem copies the files (a link cannot cross it)."""
    state = _state(tmp_path / "built")
    with_links = _tree(state.configs)
    target = Path("/dev/shm") / f"iib-state-test-{os.getpid()}"
    try:
        fork = state.fork(target)
        copied = _tree(fork.configs)
        assert {k: v[:2] for k, v in copied.items()} == {k: v[:2] for k, v in with_links.items()}
        for rel, (kind, _, ino) in copied.items():
            if kind == "file":
                assert ino != with_links[rel][2]
                assert (fork.configs / rel).read_bytes() == (state.configs / rel).read_bytes()
    finally:
        shutil.rmtree(target, ignore_errors=True)


@pytest.mark.skipif(
    not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat("/tmp").st_dev,
    reason="needs a second filesystem (/dev/shm) to move across",
)
def test_a_state_moved_across_filesystems_is_copied(tmp_path: Path) -> None:
    elsewhere = Path("/dev/shm") / f"iib-state-test-move-{os.getpid()}"
    try:
        state = _state(elsewhere)
        expected = {k: v[:2] for k, v in _tree(state.configs).items()}
        StateCache(tmp_path / "states", max_bytes=1 << 30).put(state, move=True)
        kept = tmp_path / "states" / state.key / "configs"
        assert {k: v[:2] for k, v in _tree(kept).items()} == expected
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


def _held(entries: list[Path]) -> dict[int, int]:
    """Inode → size of every file (not directory) of the cache entries ``entries``: what they
    take on disk, each hard-linked file once (POSIX ``lstat``, counted by hand)."""
    return {
        st.st_ino: st.st_size
        for entry in entries
        for sub in ("configs", "cache")
        for path in (entry / sub).rglob("*")
        if not stat.S_ISDIR((st := os.lstat(path)).st_mode)
    }


def _next_state(state: IndexState, dest: Path, digest: str) -> tuple[IndexState, Path]:
    """What a warm add leaves: ``state``'s files linked, its largest ``/configs`` file replaced
    (a new file, as a build replaces files), a new cache digest and new layers."""
    after = state.fork(dest)
    largest = max((p for p in after.configs.rglob("*") if p.is_file()), key=os.path.getsize)
    largest.unlink()
    largest.write_text("changed")
    (after.cache_dir / "digest").write_text(digest)
    after.parts = [PartLayer("keda", "sha256:" + digest * 64, "sha256:" + "d" * 64, 1, "m", "f")]
    return after, largest


def test_states_that_share_files_are_counted_once(tmp_path: Path) -> None:
    first = _state(tmp_path / "a")
    second, replaced = _next_state(first, tmp_path / "b", "c")
    states = tmp_path / "states"
    whole = sum(_held([first.configs.parent]).values())  # _state's tree: configs/ and cache/
    own = os.path.getsize(first.configs / replaced.relative_to(second.configs))

    # room for the two states' distinct files, not for two whole states
    cache = StateCache(states, max_bytes=whole + whole // 2)
    cache.put(first)
    cache.put(second)
    kept = [states / first.key, states / second.key]
    assert all(entry.is_dir() for entry in kept)
    shared = sum(_held(kept).values())
    assert whole < shared <= whole + whole // 2
    assert cache.usage() == shared
    assert cache.held() == shared  # what put counted, without a scan

    # an unrelated third state: the oldest entry goes, and with it only its own files (the
    # replaced one), not those the second still holds
    third = _state(tmp_path / "c")
    third.parts = [PartLayer("other", "sha256:" + "e" * 64, "sha256:" + "f" * 64, 1, "m", "f")]
    room = shared - own + whole + own // 2
    cache = StateCache(states, max_bytes=room)
    cache.put(third)
    assert not (states / first.key).exists()
    remaining = [states / second.key, states / third.key]
    assert all(entry.is_dir() for entry in remaining)
    assert cache.usage() == sum(_held(remaining).values()) <= room

    # another process on the same directory counts the same; an entry without its list of
    # files (an older worker's) counts whole, as its state.json says
    (states / third.key / "files.bin").unlink()
    third_bytes = json.loads((states / third.key / "state.json").read_text())["bytes"]
    assert third_bytes == sum(_held([states / third.key]).values())
    assert (
        StateCache(states, max_bytes=room).usage()
        == sum(_held([states / second.key]).values()) + third_bytes
    )
