"""``hlsgen sweep``: a design-space sweep on Dask distributed (the ``sweep`` extra).

    spec = load_spec("examples/sweep.toml")          # frozen, checked points
    outcome = run_sweep(spec, SweepOptions(out=Path("sw")))   # LocalCluster by default

Modules: :mod:`.spec` (the TOML spec), :mod:`.point` (one point as a pure task),
:mod:`.results` (``results.jsonl``, Pareto fronts, ``pareto.png``, ``summary.md``),
:mod:`.engine` (the Dask client, progress, resume). Only the engine imports Dask.
"""

from .engine import SweepError, SweepOptions, SweepOutcome, run_sweep
from .point import PointResult, run_point
from .spec import PointSpec, SimSettings, SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["PointResult", "PointSpec", "SimSettings", "SpecError", "SweepError",
           "SweepOptions", "SweepOutcome", "SweepSpec", "load_spec", "parse_spec",
           "run_point", "run_sweep"]
