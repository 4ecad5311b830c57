"""What the benchmarks that build da4ml designs share (``hardware.py``, ``peers.py``): da4ml's
pipelined Verilog as a design folder the project's synthesis flow reads, the machine line, and
a resumable Yosys run (a work folder caches each synthesis under a hash of the design files
and the synthesis settings).

da4ml (LGPL-3.0) is used as a tool; ``hlsgen`` never imports it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from pathlib import Path
from typing import Any, Callable

from hlsgen.manifest import DesignManifest
from hlsgen.synth import SynthConfig, synthesize

ROOT = Path(__file__).resolve().parent.parent


def da4ml_version() -> str:
    import da4ml

    return da4ml.__version__


def write_da4ml_design(logic, folder: Path, latency_cutoff: float,
                       name: str = "da4ml_digits") -> dict[str, Any]:
    """da4ml's pipelined Verilog of ``logic`` (a ``CombLogic``) plus a design.json our
    synthesis flow reads. ``latency_cutoff`` is da4ml's pipeline stage depth in its latency
    units (``RTLModel(latency_cutoff=...)``; -1: one combinational block)."""
    from da4ml.codegen import RTLModel

    RTLModel(logic, name, folder, latency_cutoff=latency_cutoff, print_latency=False).write()
    meta = json.loads((folder / "metadata.json").read_text())
    src = folder / "src"
    stages = sorted(src.glob(f"{name}_stage*.v"))
    text = "\n".join(p.read_text() for p in stages)
    # Only the library modules the stages instantiate: an unused one (lookup_table.v) reads a
    # placeholder $readmemh file that does not exist.
    sources = sorted(f"src/static/{p.name}" for p in (src / "static").glob("*.v")
                     if re.search(rf"\b{re.escape(p.stem)}\b", text))
    sources += [f"src/{p.name}" for p in stages]
    sources.append(f"src/{name}.v")
    (folder / "design.json").write_text(DesignManifest(
        generator=f"da4ml {da4ml_version()}", artifact_sha256="", arch="da4ml",
        backend="verilog", name=name, top=name, sources=tuple(sources), in_features=0,
        in_bits=0, in_signed=False, out_features=0, out_bits=0, out_signed=False,
        latency=int(meta["latency"]) + 1, initiation_interval=1).to_json())
    # The top registers its input and every stage's output: stages + 1 cycles.
    return {"stages": int(meta["latency"]), "latency": int(meta["latency"]) + 1,
            "cost": float(meta["cost"]), "reg_bits": int(meta.get("reg_bits", 0))}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.platform()}, {os.cpu_count()} cores ({cpu})"


def design_key(folder: Path, config: SynthConfig) -> str:
    """A hash of a design folder's files and the synthesis settings (resuming with --work)."""
    h = hashlib.sha256(repr(config).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def cached_synthesis(design: Path, cache: Path, config: SynthConfig) -> dict[str, Any] | None:
    """The result ``synthesize_cached`` stored in ``cache`` for these design files and
    settings, or None."""
    if cache.is_file():
        doc = json.loads(cache.read_text())
        if doc.get("key") == design_key(design, config):
            return dict(doc["result"], reused=True)
    return None


def synthesize_cached(design: Path, work: Path, cache: Path, config: SynthConfig,
                      target: str = "ecp5_nodsp",
                      progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``synthesize(design, work, config)[target]``, or the result cached in ``cache`` when the
    same design files were synthesized with the same settings (then ``reused: True``)."""
    reused = cached_synthesis(design, cache, config)
    if reused is not None:
        if progress:
            progress("the same design files were synthesized in this work folder: reused")
        return reused
    res = synthesize(design, work, config, progress=progress)[target]
    cache.write_text(json.dumps({"key": design_key(design, config), "result": res}))
    return res
