"""The sweep spec: a TOML file read into frozen dataclasses, every point resolved and checked
before any work (bad input is one line naming the key and the fix).

    [sweep]
    name = "digits-small"
    stages = ["compress", "generate", "simulate"]   # + "synth" for Yosys / nextpnr figures
    compressor = "digits"       # the hlsgen.compressors entry point
    sample = "grid"             # or "random": `samples` points drawn from the grid (`seed`)

    [settings]                  # shared by every point
    hidden = [16]
    epochs = 10
    vectors = "digits"
    count = 64

    [grid]                      # each key a list of values; the points are every combination
    prune = [0.25, 0.5]
    w_bits = [4, 8]

    [[points]]                  # single points added after the grid's (settings override)
    prune = 0.9

A point's settings are ``[settings]``, then its grid values, then its ``[[points]]`` table.
The keys hlsgen knows (:data:`HLSGEN_KEYS`: the architecture and its schedule options, the
simulation and synthesis settings, ``artifact``) are checked here; every other key is a
compressor setting, handed to the compressor (which checks it: :func:`check_compressor`).
A point with ``artifact`` (a path relative to the spec) starts from that network and is not
compressed; compressor settings do not apply to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import artifact
from ..artifact import ArtifactError
from ..schedules import ARCHITECTURES, ScheduleOptions
from ..sim.runner import SIMULATORS
from ..synth import DEVICES, TARGETS, SynthConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (the `sweep` extra installs tomli there)
    import tomli as tomllib

STAGES = ("compress", "generate", "simulate", "synth")
SAMPLES = ("grid", "random")
VECTORS = ("digits", "random")
SECTIONS = ("sweep", "settings", "grid", "points")
SWEEP_KEYS = ("name", "stages", "compressor", "sample", "samples", "seed")
SCHEDULE_KEYS = tuple(f.name for f in dataclasses.fields(ScheduleOptions))
SIM_KEYS = ("simulator", "vectors", "count", "stall_in", "stall_out", "sim_seed")
SYNTH_KEYS = ("targets", "pnr", "device", "freq")
HLSGEN_KEYS = ("artifact", "arch", *SCHEDULE_KEYS, *SIM_KEYS, *SYNTH_KEYS)
MAX_POINTS = 100_000


class SpecError(ValueError):
    """The spec cannot be used: one line naming the file, the key and the fix."""


@dataclass(frozen=True)
class SimSettings:
    """How a point's design is simulated (see ``hlsgen simulate --help``)."""

    simulator: str = "verilator"
    vectors: str = "digits"
    count: int | None = None     # None: every test image, or 256 random vectors
    stall_in: float = 0.25
    stall_out: float = 0.25
    seed: int = 0


@dataclass(frozen=True)
class PointSpec:
    """Everything one point's task needs; the task is a pure function of it.

    ``params`` are the point's settings as written (for the table); ``compress`` the
    compressor's share of them (sorted items, values as JSON gives them); ``artifact_text``
    the network when the point starts from an artifact instead of the compressor."""

    index: int
    params: tuple[tuple[str, Any], ...]
    stages: tuple[str, ...]
    compressor: str
    compress: tuple[tuple[str, Any], ...]
    artifact_text: str | None
    arch: str
    schedule: ScheduleOptions
    sim: SimSettings
    synth: SynthConfig | None

    @property
    def key(self) -> str:
        """The point's identity: a hash of everything that determines its result (the
        index and the spelling of its settings do not count)."""
        ident = {
            "stages": list(self.stages), "arch": self.arch,
            "schedule": dataclasses.asdict(self.schedule),
            "sim": dataclasses.asdict(self.sim) if "simulate" in self.stages else None,
            "synth": _synth_ident(self.synth),
        }
        if self.artifact_text is None:
            ident.update(compressor=self.compressor, compress=dict(self.compress))
        else:
            ident["artifact_sha256"] = artifact.digest(artifact.loads(self.artifact_text))
        text = json.dumps(ident, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _synth_ident(config: SynthConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {k: v for k, v in dataclasses.asdict(config).items()
            if k not in ("timeout_s", "heartbeat_s")}


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: its name, stages and every point (grid order, then ``[[points]]``)."""

    path: Path
    name: str
    stages: tuple[str, ...]
    compressor: str
    points: tuple[PointSpec, ...]


# ------------------------------------------------------------------------------- reading

def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such sweep spec; pass a TOML file "
                        "(see examples/sweep.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the sweep spec ({exc})") from None
    return parse_spec(text, path)


def parse_spec(text: str, path: Path = Path("sweep.toml")) -> SweepSpec:
    """Check the TOML text of a spec; ``path`` names it in errors and anchors artifact paths."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    fail = _failer(path)
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        fail(f"unknown section or key {unknown[0]!r}; the sections are "
             f"{', '.join('[' + s + ']' for s in SECTIONS)}")
    head = _table(doc, "sweep", fail)
    bad = sorted(set(head) - set(SWEEP_KEYS))
    if bad:
        fail(f"[sweep] has no key {bad[0]!r}; its keys are {', '.join(SWEEP_KEYS)}")
    name = head.get("name", path.stem)
    if not isinstance(name, str) or not name:
        fail("[sweep] name must be a non-empty string")
    stages = _stages(head.get("stages", ["compress", "generate", "simulate"]), fail)
    compressor = head.get("compressor", "digits")
    if not isinstance(compressor, str) or not compressor:
        fail("[sweep] compressor must name an hlsgen.compressors entry point, e.g. \"digits\"")

    settings = _table(doc, "settings", fail)
    grid = _table(doc, "grid", fail)
    extra = doc.get("points", [])
    if not isinstance(extra, list) or not all(isinstance(p, dict) for p in extra):
        fail("points must be an array of tables, written [[points]]")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            fail(f"[grid] {key} must be a non-empty list of values, e.g. {key} = [a, b]")
    combos = _sample(head, grid, fail)
    if not combos and not extra:
        fail("the spec has no points; add a [grid] or [[points]] table")
    if len(combos) + len(extra) > MAX_POINTS:
        fail(f"{len(combos) + len(extra)} points is more than {MAX_POINTS}; use "
             "sample = \"random\" with samples = N")

    artifacts: dict[str, str] = {}
    points = []
    for index, (where, own) in enumerate(
            [(f"grid point {i}", c) for i, c in enumerate(combos)]
            + [(f"[[points]] {i}", p) for i, p in enumerate(extra)]):
        params = {**settings, **own}
        points.append(_point(index, where, params, stages, compressor, path, artifacts, fail))
    keys: dict[str, int] = {}
    for p in points:
        if p.key in keys:
            fail(f"points {keys[p.key]} and {p.index} are the same point "
                 f"({_show(dict(p.params))}); remove one")
        keys[p.key] = p.index
    return SweepSpec(path=path, name=name, stages=stages, compressor=compressor,
                     points=tuple(points))


def _failer(path: Path) -> Callable[[str], Any]:
    def fail(msg: str) -> Any:
        raise SpecError(f"{path}: {msg}")
    return fail


def _table(doc: Mapping[str, Any], name: str, fail: Callable[[str], Any]) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        fail(f"{name} must be a table, written [{name}]")
    return value


def _stages(value: Any, fail: Callable[[str], Any]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        fail(f"[sweep] stages must be a list drawn from {', '.join(STAGES)}")
    bad = [s for s in value if s not in STAGES]
    if bad:
        fail(f"[sweep] stages: unknown stage {bad[0]!r}; choose from {', '.join(STAGES)}")
    if len(set(value)) != len(value):
        fail("[sweep] stages lists a stage twice")
    for stage in ("simulate", "synth"):
        if stage in value and "generate" not in value:
            fail(f"[sweep] stages: {stage} needs the generate stage; add \"generate\"")
    return tuple(s for s in STAGES if s in value)   # the flow's order


def _sample(head: Mapping[str, Any], grid: Mapping[str, list[Any]],
            fail: Callable[[str], Any]) -> list[dict[str, Any]]:
    """The grid's points in order, or the random sample of them."""
    sample = head.get("sample", "grid")
    if sample not in SAMPLES:
        fail(f"[sweep] sample must be one of {', '.join(SAMPLES)}, got {sample!r}")
    keys = list(grid)
    sizes = [len(grid[k]) for k in keys]
    total = 1
    for n in sizes:
        total *= n
    total = total if keys else 0

    def combo(i: int) -> dict[str, Any]:
        values = {}
        for k, n in zip(reversed(keys), reversed(sizes)):
            i, j = divmod(i, n)
            values[k] = grid[k][j]
        return {k: values[k] for k in keys}

    if sample == "grid":
        for name in ("samples", "seed"):
            if name in head:
                fail(f"[sweep] {name} applies to sample = \"random\" only; remove it")
        if total > MAX_POINTS:
            fail(f"the grid has {total} points, more than {MAX_POINTS}; use "
                 "sample = \"random\" with samples = N")
        return [combo(i) for i in range(total)]
    n, seed = head.get("samples"), head.get("seed", 0)
    if type(n) is not int or n < 1:
        fail("[sweep] sample = \"random\" needs samples = N (a positive integer)")
    if type(seed) is not int:
        fail("[sweep] seed must be an integer")
    if n > total:
        fail(f"[sweep] samples = {n} but the grid has only {total} points; lower samples")
    return [combo(i) for i in sorted(random.Random(seed).sample(range(total), n))]


def _point(index: int, where: str, params: dict[str, Any], stages: tuple[str, ...],
           compressor: str, spec_path: Path, artifacts: dict[str, str],
           fail: Callable[[str], Any]) -> PointSpec:
    def bad(msg: str) -> Any:
        return fail(f"{where}: {msg}")

    art_text = None
    if "artifact" in params:
        art_text = _artifact(params["artifact"], spec_path, artifacts, bad)
    elif "compress" not in stages:
        bad("no network: without the compress stage every point needs artifact = \"FILE\"")
    arch = params.get("arch", "unrolled")
    if arch not in ARCHITECTURES:
        bad(f"arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    schedule = _schedule(params, bad)
    sim = _sim(params, bad)
    synth = _synth(params, bad) if "synth" in stages else None
    compress = () if art_text is not None else tuple(sorted(
        (k, _frozen(v)) for k, v in params.items() if k not in HLSGEN_KEYS))
    shown = {k: v for k, v in params.items() if art_text is None or k in HLSGEN_KEYS}
    return PointSpec(index=index, params=tuple((k, _frozen(v)) for k, v in shown.items()),
                     stages=stages, compressor=compressor, compress=compress,
                     artifact_text=art_text, arch=arch, schedule=schedule, sim=sim,
                     synth=synth)


def _frozen(value: Any) -> Any:
    """TOML arrays as tuples, so points are hashable and compare by value."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


def _artifact(value: Any, spec_path: Path, cache: dict[str, str],
              bad: Callable[[str], Any]) -> str:
    if not isinstance(value, str) or not value:
        bad("artifact must be a file path (relative to the spec)")
    if value not in cache:
        path = spec_path.parent / value
        try:
            text = path.read_text(encoding="utf-8")
            artifact.loads(text, str(path))
        except (OSError, UnicodeDecodeError) as exc:
            bad(f"cannot read artifact {path} ({exc.__class__.__name__}); fix the path "
                "(relative to the spec)")
        except ArtifactError as exc:
            bad(str(exc))
        cache[value] = text
    return cache[value]


def _int(params: Mapping[str, Any], key: str, default: Any, lo: int,
         bad: Callable[[str], Any]) -> Any:
    value = params.get(key, default)
    if value is default:
        return value
    if type(value) is not int or value < lo:
        bad(f"{key} must be an integer >= {lo}, got {value!r}")
    return value


def _prob(params: Mapping[str, Any], key: str, default: float,
          bad: Callable[[str], Any]) -> float:
    value = params.get(key, default)
    if type(value) not in (int, float) or not 0.0 <= value < 1.0:
        bad(f"{key} must be a probability in [0, 1), got {value!r}")
    return float(value)


def _schedule(params: Mapping[str, Any], bad: Callable[[str], Any]) -> ScheduleOptions:
    values = {}
    for f in dataclasses.fields(ScheduleOptions):
        if f.name in params:
            default = f.default
            if isinstance(default, int) and not isinstance(default, bool):
                values[f.name] = _int(params, f.name, None, 1, bad)
            else:
                values[f.name] = params[f.name]
    try:
        return ScheduleOptions(**values)
    except (TypeError, ValueError) as exc:
        return bad(f"schedule options: {exc}")


def _sim(params: Mapping[str, Any], bad: Callable[[str], Any]) -> SimSettings:
    simulator = params.get("simulator", "verilator")
    if simulator not in SIMULATORS:
        bad(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    vectors = params.get("vectors", "digits")
    if vectors not in VECTORS:
        bad(f"vectors must be one of {', '.join(VECTORS)}, got {vectors!r}")
    seed = params.get("sim_seed", 0)
    if type(seed) is not int:
        bad(f"sim_seed must be an integer, got {seed!r}")
    return SimSettings(simulator=simulator, vectors=vectors,
                       count=_int(params, "count", None, 1, bad),
                       stall_in=_prob(params, "stall_in", 0.25, bad),
                       stall_out=_prob(params, "stall_out", 0.25, bad), seed=seed)


def _synth(params: Mapping[str, Any], bad: Callable[[str], Any]) -> SynthConfig:
    targets = params.get("targets", list(TARGETS))
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not all(t in TARGETS for t in targets):
        bad(f"targets must list synthesis targets from {', '.join(TARGETS)}, got {targets!r}")
    pnr = params.get("pnr", True)
    if type(pnr) is not bool:
        bad(f"pnr must be true or false, got {pnr!r}")
    device = params.get("device", "auto")
    if device not in DEVICES:
        bad(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    freq = params.get("freq", 150.0)
    if type(freq) not in (int, float) or not freq > 0:
        bad(f"freq must be a positive clock in MHz, got {freq!r}")
    try:
        return SynthConfig(targets=tuple(targets), pnr=pnr, device=device,
                           freq_mhz=float(freq))
    except ValueError as exc:
        return bad(str(exc))


def _show(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "artifact") or "no settings"


# ------------------------------------------------------------------- compressor settings

def check_compressor(spec: SweepSpec, prepare: Callable[[Mapping[str, Any]], Any]) -> None:
    """Hand every distinct compressor setting of the spec to ``prepare`` (the compressor's
    check, no training); the first refusal is a SpecError naming the point."""
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for p in spec.points:
        if p.artifact_text is not None or p.compress in seen:
            continue
        seen.add(p.compress)
        try:
            prepare(compressor_settings(p))
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{spec.path}: point {p.index} ({_show(dict(p.params))}): invalid "
                            f"compressor setting: {exc}; fix it in [settings], [grid] or "
                            "[[points]]") from None


def compressor_settings(point: PointSpec) -> dict[str, Any]:
    """The compressor's settings of a point, TOML arrays as tuples."""
    return dict(point.compress)
