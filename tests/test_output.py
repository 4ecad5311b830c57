"""Atomic outputs (hlsgen/output.py): locations checked before writing, all-or-nothing
stages, plain-write modes, and the build-cache mirror."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hlsgen import output
from hlsgen.output import (OutputError, Stage, atomic_write_text, check_target, current_umask,
                           mirror_tree, write_tree)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root`` (hidden ones included): file bytes, None for a folder."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*"))}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_027():
    """Run with umask 027 (tests run one per process under xdist: no other thread sees it)."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    path = tmp_path / "file"
    path.write_text("not a folder")
    return path


# ------------------------------------------------------------------------------------ modes

def test_current_umask_reads_without_changing_it(umask_027):
    assert current_umask() == 0o027
    assert current_umask() == 0o027


def test_new_outputs_get_the_modes_of_a_plain_write(tmp_path, umask_027):
    atomic_write_text(tmp_path / "f.txt", "x")
    write_tree(tmp_path / "tree", {"a.txt": "a", "sub/b.bin": b"b"})
    assert mode(tmp_path / "f.txt") == 0o640
    assert mode(tmp_path / "tree") == 0o750
    assert mode(tmp_path / "tree" / "sub") == 0o750
    assert mode(tmp_path / "tree" / "a.txt") == 0o640
    assert mode(tmp_path / "tree" / "sub" / "b.bin") == 0o640
    with Stage() as stage:
        stage.folder(tmp_path / "new" / "deep" / "out")
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deep") == 0o750


def test_replaced_outputs_keep_their_modes(tmp_path, umask_027):
    atomic_write_text(tmp_path / "f.txt", "one")
    (tmp_path / "f.txt").chmod(0o600)
    atomic_write_text(tmp_path / "f.txt", "two")
    write_tree(tmp_path / "tree", {"a.txt": "a"})
    (tmp_path / "tree").chmod(0o700)
    write_tree(tmp_path / "tree", {"b.txt": "b"})
    assert (tmp_path / "f.txt").read_text() == "two" and mode(tmp_path / "f.txt") == 0o600
    assert mode(tmp_path / "tree") == 0o700 and mode(tmp_path / "tree" / "b.txt") == 0o640


# ------------------------------------------------------------------------------- locations

def test_atomic_write_text_under_a_regular_file_is_an_output_error(tmp_path, blocker):
    """The cause of `report`/`simulate --out file/x` tracebacks (FileExistsError)."""
    for path in (blocker / "r.json", blocker / "deeper" / "r.json"):
        with pytest.raises(OutputError, match="cannot create output folder.*choose a writable"):
            atomic_write_text(path, "x")
    assert snapshot(tmp_path) == {"file": b"not a folder"}


def test_check_target_refuses_without_creating_anything(tmp_path, blocker):
    (tmp_path / "dir").mkdir()
    cases = [
        (blocker / "a" / "b", True, "--out", "file, not a folder; choose a writable --out"),
        (blocker / "x.json", False, "--report", "choose a writable --report"),
        (blocker, True, "--out", "is a file, not a folder"),
        (tmp_path / "dir", False, "--out", "is a folder, not a file"),
        (tmp_path, True, "--out", None),
    ]
    before = snapshot(tmp_path)
    for path, folder, option, message in cases:
        if message is None:
            check_target(path, folder=folder, option=option)
        else:
            with pytest.raises(OutputError, match=message):
                check_target(path, folder=folder, option=option)
    assert check_target(tmp_path / "new" / "deeper", folder=True) == tmp_path / "new" / "deeper"
    assert snapshot(tmp_path) == before


def test_a_folder_holding_the_current_folder_is_never_replaced(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for target in (Path("."), tmp_path):
        with pytest.raises(OutputError, match="holds the current folder"):
            write_tree(target, {"a.txt": "x"})
    assert snapshot(tmp_path) == {"work": None}


# ------------------------------------------------------------------------------------ stage

def test_stage_swaps_a_folder_and_a_file_in_together(tmp_path):
    write_tree(tmp_path / "out", {"old.txt": "old"})
    with Stage() as stage:
        tmp = stage.folder(tmp_path / "out")
        (tmp / "new.txt").write_text("new")
        stage.text(tmp_path / "out" / "inside.json", "in")      # lands in the staged folder
        stage.text(tmp_path / "elsewhere" / "report.json", "rep")
        assert not (tmp_path / "elsewhere" / "report.json").exists()   # not before commit
        assert not (tmp_path / "out" / "new.txt").exists()
    assert snapshot(tmp_path) == {"elsewhere": None, "elsewhere/report.json": b"rep",
                                  "out": None, "out/inside.json": b"in", "out/new.txt": b"new"}


@pytest.mark.parametrize("exc", [RuntimeError("stage failed"), KeyboardInterrupt()])
def test_stage_failure_changes_nothing_and_leaves_nothing(tmp_path, exc):
    write_tree(tmp_path / "out", {"old.txt": "old"})
    atomic_write_text(tmp_path / "report.json", "old report")
    before = snapshot(tmp_path)
    with pytest.raises(type(exc)):
        with Stage() as stage:
            (stage.folder(tmp_path / "out") / "new.txt").write_text("new")
            stage.folder(tmp_path / "a" / "b" / "other")          # creates a/ and a/b/
            stage.text(tmp_path / "report.json", "new report")
            stage.text(tmp_path / "c" / "r.json", "new")          # creates c/
            raise exc
    assert snapshot(tmp_path) == before


def test_stage_undoes_the_first_swap_when_the_second_fails(tmp_path, monkeypatch):
    write_tree(tmp_path / "out", {"old.txt": "old"})
    atomic_write_text(tmp_path / "report.json", "old report")
    before = snapshot(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "report.json" and Path(src).name.endswith(".tmp"):
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        with Stage() as stage:
            (stage.folder(tmp_path / "out") / "new.txt").write_text("new")
            stage.text(tmp_path / "report.json", "new report")
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_write_tree_refuses_to_replace_a_regular_file(tmp_path, blocker):
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write_tree(blocker, {"a.txt": "x"})
    assert snapshot(tmp_path) == {"file": b"not a folder"}


# ----------------------------------------------------------------------------------- mirror

def test_mirror_rewrites_only_what_changed(tmp_path):
    write_tree(tmp_path / "src", {"same.v": "same", "changed.v": "one", "gone.v": "x",
                                  "sub/gone.v": "y"})
    dst = mirror_tree(tmp_path / "src", tmp_path / "dst")
    assert snapshot(dst) == snapshot(tmp_path / "src")
    old = {n: (dst / n).stat().st_mtime_ns for n in ("same.v", "changed.v")}
    os.utime(dst / "same.v", ns=(old["same.v"] - 10**9, old["same.v"] - 10**9))
    stamp = (dst / "same.v").stat().st_mtime_ns
    write_tree(tmp_path / "src", {"same.v": "same", "changed.v": "two", "new.v": "n"})
    mirror_tree(tmp_path / "src", dst)
    assert snapshot(dst) == snapshot(tmp_path / "src")
    assert (dst / "same.v").stat().st_mtime_ns == stamp        # untouched: make sees no change
    assert (dst / "changed.v").read_text() == "two"
