"""The part of a design folder synthesis needs (``design.json``: top and sources), and staging
a copy of the folder where a tool can see it.

The YoWASP (WebAssembly) builds of Yosys and nextpnr only see files under their working folder,
so every run gets a copy of the design folder as its working folder and names files by
relative paths. A relative ``INIT_FILE`` (``$readmemh``) then resolves exactly as it does from
the design folder itself.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..manifest import MANIFEST, DesignManifest, ManifestError


WAVE_SUFFIXES = (".vcd", ".fst", ".ghw")


class SynthError(RuntimeError):
    """A design cannot be synthesized or placed as asked: one line saying why and what to do."""


@dataclass(frozen=True)
class DesignSources:
    """The top module and the Verilog sources (relative POSIX paths) of a design folder."""

    folder: Path
    top: str
    sources: tuple[str, ...]


def read_design(design_dir: Path) -> DesignSources:
    """``design.json``'s top and sources (read as the typed :class:`DesignManifest`), checked:
    every source is a relative path to a file inside the folder."""
    design_dir = Path(design_dir)
    manifest = design_dir / MANIFEST
    fix = f"regenerate it with `hlsgen generate ARTIFACT --out {design_dir}`"
    try:
        doc = DesignManifest.load(design_dir)
    except ManifestError as exc:
        raise SynthError(str(exc)) from None
    if doc.backend != "verilog":
        raise SynthError(f"{design_dir} is a {doc.backend!r} design; Yosys synthesizes Verilog "
                         f"designs: generate one with `hlsgen generate ARTIFACT --out DIR` "
                         "(the HLS C++ goes through the vendor tool: run_hls.tcl)")
    if not doc.top.isidentifier():
        raise SynthError(f"{manifest} has no valid \"top\" module name; {fix}")
    if not doc.sources:
        raise SynthError(f"{manifest} has no sources; {fix}")
    for src in doc.sources:
        rel = PurePosixPath(src)
        if rel.is_absolute() or ".." in rel.parts:
            raise SynthError(f"{manifest} names source {src!r} outside the design folder; {fix}")
        if not (design_dir / rel).is_file():
            raise SynthError(f"{manifest} names source {src!r}, which is missing; {fix}")
        if any(ch.isspace() for ch in src):
            raise SynthError(f"{manifest} names source {src!r} with a space in it; rename it")
    return DesignSources(design_dir, doc.top, tuple(doc.sources))


def stage(design: DesignSources, dest: Path) -> Path:
    """Copy the design folder's files into ``dest`` (created) and return ``dest``. Left out:
    ``dest`` itself if it lies inside the design folder, links, and waveform dumps."""
    src_root = design.folder.resolve()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    skip = dest.resolve()
    for path in sorted(src_root.rglob("*")):
        if path == skip or skip in path.parents or path.is_symlink() or not path.is_file() \
                or path.suffix in WAVE_SUFFIXES:
            continue
        target = dest / path.relative_to(src_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dest
