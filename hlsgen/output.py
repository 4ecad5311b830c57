"""Atomic outputs: build every output in a temporary sibling, then rename it into place.

The rules every command follows (README, "The flow and the CLI"):

* A file or folder is written as a temporary sibling (``.NAME.XXXXXXXX.tmp``) and renamed
  onto its target, so readers never see half an output and a failure leaves the previous one.
* :class:`Stage` swaps several outputs in together (``hlsgen run``: the OUT folder and a
  ``--report`` file outside it): all of them or, on any exception, none of them, and nothing
  it created stays behind (temporaries and the parent folders it had to make are removed).
* A location that cannot take the output (a path under a regular file, a folder where a file
  belongs, a read-only folder, a folder holding the current folder) is one
  :class:`OutputError` naming the path and the option to change, raised before anything is
  written (:func:`check_target` checks without writing).
* Modes are what a plain write gives: a new file gets ``0o666 & ~umask``, a new folder
  ``0o777 & ~umask`` (not the 0600/0700 of ``mkstemp``/``mkdtemp``); a replaced file or
  folder keeps its own permission bits.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Mapping

FILE_MODE = 0o666
DIR_MODE = 0o777


class OutputError(OSError):
    """The output location cannot be written."""


# ------------------------------------------------------------------------------------ modes

def current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` where the kernel offers it.

    ``os.umask`` can only be read by setting it; setting and restoring it is a process-wide
    side effect other threads can observe, so it is the fallback only."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def plain_mode(target: Path, *, folder: bool) -> int:
    """The permission bits a plain write of ``target`` gives: its own when it exists,
    else the default for a new file or folder less the umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return (DIR_MODE if folder else FILE_MODE) & ~current_umask()


# ------------------------------------------------------------------------------- locations

def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except OSError:  # missing, or a path under a regular file (ENOTDIR)
        return False
    return True


def _nearest_existing(path: Path) -> Path:
    while not _exists(path) and path != path.parent:
        path = path.parent
    return path


def check_target(path: Path, *, folder: bool, option: str = "--out") -> Path:
    """Raise OutputError unless ``path`` can be created or replaced as a folder (or a file),
    creating nothing; returns the absolute path."""
    path = Path(path).absolute()
    if path == path.parent:
        raise OutputError(f"cannot replace {path}; choose another {option}")
    if _exists(path):
        if folder and not path.is_dir():
            raise OutputError(f"{path} is a file, not a folder; remove it or choose another "
                              f"{option}")
        if not folder and path.is_dir():
            raise OutputError(f"{path} is a folder, not a file; choose another {option}")
    if folder:
        real, cwd = path.resolve(), Path.cwd().resolve()
        if cwd == real or real in cwd.parents:
            raise OutputError(f"{path} holds the current folder and would be replaced as a "
                              f"whole; choose another {option}")
    ancestor = _nearest_existing(path.parent)
    if not ancestor.is_dir():
        raise OutputError(f"cannot create output folder {path.parent}: {ancestor} is a file, "
                          f"not a folder; choose a writable {option}")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {ancestor} is not writable; choose a writable {option}")
    return path


def _make_parents(folder: Path, option: str) -> list[Path]:
    """Create ``folder`` and its missing parents (plain modes); return those created."""
    missing = []
    probe = folder
    while not _exists(probe):
        missing.append(probe)
        probe = probe.parent
    created: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
    except OSError as exc:
        _remove_folders(created)
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}; "
                          f"choose a writable {option}") from None
    return created


def _remove_folders(created: list[Path]) -> None:
    """Remove folders made by :func:`_make_parents`, deepest first, where still empty."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            break


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _aside_name(target: Path) -> Path:
    """A fresh unused name beside ``target`` to move the old output to."""
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
    os.rmdir(old)
    return old


def swap_in(moves: list[tuple[Path, Path]]) -> None:
    """Rename each ``new`` onto its ``target`` (file or folder), all or none.

    Old targets are first renamed aside, then the new ones into place; if any rename fails,
    the ones done are undone (the new outputs back to their temporary names, the old ones
    back into place) and the error propagates. The old outputs are deleted only at the end."""
    done: list[tuple[Path | None, Path, Path]] = []   # (old, target, new), in order
    try:
        for new, target in moves:
            old = None
            if _exists(target):
                old = _aside_name(target)
                os.replace(target, old)
            done.append((old, target, new))
            os.replace(new, target)
    except BaseException:
        for old, target, new in reversed(done):
            if not _exists(new) and _exists(target):   # the new one went in: take it back
                os.replace(target, new)
            if old is not None:
                os.replace(old, target)
        raise
    for old, _, _ in done:
        if old is not None:
            _remove(old)


def replace_dir(new: Path, target: Path) -> None:
    """Move folder ``new`` to ``target``, replacing any old one with two renames."""
    swap_in([(Path(new), Path(target))])


# ------------------------------------------------------------------------------------ stage

class Stage:
    """Outputs staged beside their targets and swapped in together, or not at all.

        with Stage() as stage:
            tmp = stage.folder(out)                      # an empty temporary sibling of out
            ...                                          # write everything into tmp
            stage.text(report, text, option="--report")  # a file (inside out: into tmp)
        # after the block: out and report replaced; after an exception: nothing changed

    An exception inside the block (or while swapping) removes every temporary and every
    parent folder the stage created, and propagates.
    """

    def __init__(self) -> None:
        self._moves: list[tuple[Path, Path]] = []      # (temporary, target)
        self._folders: dict[Path, Path] = {}            # folder target -> its temporary
        self._created: list[Path] = []                  # parent folders this stage made

    def folder(self, target: Path, option: str = "--out") -> Path:
        """An empty temporary folder that becomes ``target`` when the stage commits."""
        target = check_target(target, folder=True, option=option)
        self._created += _make_parents(target.parent, option)
        try:
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".tmp"))
        except OSError as exc:
            raise OutputError(f"cannot write in {target.parent}: {exc.strerror or exc}; "
                              f"choose a writable {option}") from None
        self._moves.append((tmp, target))
        self._folders[target] = tmp
        os.chmod(tmp, plain_mode(target, folder=True))
        return tmp

    def text(self, target: Path, text: str, option: str = "--out") -> None:
        """Stage ``text`` as file ``target``: written into a staged folder when ``target``
        lies inside one, else into a temporary sibling renamed at commit."""
        target = Path(target).absolute()
        for folder, tmp in self._folders.items():
            if folder in target.parents:
                inner = tmp / target.relative_to(folder)
                inner.parent.mkdir(parents=True, exist_ok=True)
                _write_text(inner, text)
                return
        target = check_target(target, folder=False, option=option)
        self._created += _make_parents(target.parent, option)
        try:
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".tmp")
        except OSError as exc:
            raise OutputError(f"cannot write in {target.parent}: {exc.strerror or exc}; "
                              f"choose a writable {option}") from None
        tmp = Path(name)
        self._moves.append((tmp, target))
        try:
            os.fchmod(fd, plain_mode(target, folder=False))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}; "
                              f"choose a writable {option}") from None

    def commit(self) -> None:
        """Swap every staged output in (all or none)."""
        swap_in(self._moves)
        self._moves.clear()
        self._folders.clear()
        self._created.clear()

    def discard(self) -> None:
        """Remove every temporary and the parent folders this stage created."""
        for tmp, _ in self._moves:
            _remove(tmp)
        _remove_folders(self._created)
        self._moves.clear()
        self._folders.clear()
        self._created.clear()

    def __enter__(self) -> "Stage":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self.commit()
        except BaseException:
            self.discard()
            raise


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


# ------------------------------------------------------------------------------ one output

def atomic_write_text(path: Path, text: str, option: str = "--out") -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename,
    so readers never see a half-written file."""
    with Stage() as stage:
        stage.text(Path(path), text, option)


def write_tree(target: Path, files: Mapping[str, str | bytes], option: str = "--out") -> Path:
    """Replace folder ``target`` by exactly ``files`` (relative path -> content), atomically."""
    target = Path(target).absolute()
    with Stage() as stage:
        tmp = stage.folder(target, option)
        for rel, content in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                _write_text(path, content)
    return target


def mirror_tree(src: Path, dst: Path) -> Path:
    """Make folder ``dst`` hold ``src``'s files, rewriting only those whose bytes differ.

    Unchanged files keep their modification times, so a build that depends on them (the
    simulator's build cache) rebuilds only what changed. Files ``dst`` holds beyond
    ``src``'s are removed; ``dst`` is a cache, never an output."""
    src, dst = Path(src), Path(dst)
    wanted = {p.relative_to(src) for p in src.rglob("*") if p.is_file()}
    if dst.is_dir():
        for path in sorted(dst.rglob("*"), reverse=True):
            rel = path.relative_to(dst)
            if path.is_file() and rel not in wanted:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for rel in sorted(wanted):
        data = (src / rel).read_bytes()
        path = dst / rel
        if path.is_file() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dst
