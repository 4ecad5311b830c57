"""Running a sweep on Dask distributed: an embedded ``LocalCluster`` sized to the machine by
default, or an existing cluster (``dask scheduler`` / ``dask worker``, or any deployment) at a
scheduler address.

Each point is one task (:func:`hlsgen.sweep.point.run_point`, a pure function of its spec);
the client stores each result as it finishes, so an interrupted sweep resumes where it
stopped. A worker lost mid-task is Dask's to handle: the scheduler re-runs its tasks
elsewhere (up to ``distributed.scheduler.allowed-failures`` times, then the point is recorded
as failed with Dask's reason).
"""

from __future__ import annotations

import logging
import queue
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .. import compressors
from ..output import OutputError, atomic_write_text
from ..sim.toolchain import find_simulator, require_cocotb
from ..tools import find
from .point import PointResult, run_point
from .results import (ARTIFACTS, RESULTS, ResultsFile, accuracy, check_out_dir, pareto_table,
                      read_results, write_summary)
from .spec import PointSpec, SpecError, SweepSpec, check_compressor

TOPIC = "hlsgen-sweep"        # the workers' "point started" events
HEARTBEAT_S = 30.0            # a progress line at least this often while points run
INSTALL = "install it with `pip install -e .[sweep]`"


class SweepError(RuntimeError):
    """The sweep cannot run (no Dask, no scheduler at the address): one line and the fix."""


@dataclass(frozen=True)
class SweepOptions:
    """Where a sweep writes and where it runs."""

    out: Path
    scheduler: str | None = None     # tcp://HOST:PORT of an existing cluster; None: local
    workers: int | None = None       # LocalCluster workers; None: one per core
    retry_failed: bool = False       # re-run points recorded as failed
    dashboard: str | None = ":8787"  # LocalCluster dashboard address (needs bokeh)


@dataclass(frozen=True)
class SweepOutcome:
    total: int
    skipped: int
    ran: int
    ok: int
    failed: int
    elapsed_s: float
    pareto: str
    png: bool


def preflight(spec: SweepSpec, local: bool) -> None:
    """Everything checkable on this machine before any work: the compressor's settings
    (where the compressor is installed here) and, for a local cluster, the tools."""
    if any(p.artifact_text is None for p in spec.points):
        try:
            compressor = compressors.load(spec.compressor)
        except compressors.CompressorError as exc:
            if local:
                raise SpecError(str(exc)) from None
        else:
            check_compressor(spec, lambda s: compressor.prepare(s, progress=False,
                                                                say=lambda m: None))
    if not local:
        return   # the workers find their own tools; a missing one fails its points
    sims = {p.sim.simulator for p in spec.points if "simulate" in p.stages}
    if sims:
        require_cocotb()
    for name in sorted(sims):
        find_simulator(name)
    synths = [p.synth for p in spec.points if p.synth is not None]
    if synths:
        find("yosys")
        if any(c.pnr and any(t != "xilinx" for t in c.targets) for c in synths):
            find("nextpnr-ecp5")


def _dask() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise SweepError(f"the sweep runs on Dask distributed ({exc}); {INSTALL}") from None
    return distributed


def local_workers(requested: int | None, points: int) -> int:
    """LocalCluster size: as requested, else one single-threaded worker per core (never
    more workers than points)."""
    if requested is not None:
        return requested
    from dask.system import cpu_count  # cgroup and affinity aware
    return max(1, min(cpu_count(), points))


@contextmanager
def _client(options: SweepOptions, points: int, say: Callable[[str], None]) -> Iterator[Any]:
    distributed = _dask()
    if options.scheduler:
        try:
            client = distributed.Client(options.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"no Dask scheduler answers at {options.scheduler} ({exc}); "
                             "start one with `dask scheduler` or check --scheduler") from None
        with client:
            n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            say(f"cluster {options.scheduler}: {n} workers"
                + (f", dashboard {client.dashboard_link}" if _has_dashboard(client) else ""))
            yield client
        return
    n = local_workers(options.workers, points)
    # one thread per worker process: a point trains with torch (one thread, global state
    # set and restored) and runs the simulator's compiler; processes keep them apart
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  dashboard_address=options.dashboard,
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        say(f"local Dask cluster: {n} workers x 1 thread"
            + (f", dashboard {client.dashboard_link}" if _has_dashboard(client) else ""))
        yield client


def _has_dashboard(client: Any) -> bool:
    try:
        import bokeh  # noqa: F401 - the dashboard needs it
    except ImportError:
        return False
    return bool(client.dashboard_link)


def _task(point: PointSpec) -> PointResult:
    """The task as submitted: tell the client the point started, then run it."""
    from distributed import get_worker
    try:
        get_worker().log_event(TOPIC, {"point": point.key})
    except ValueError:   # not on a worker
        pass
    return run_point(point)


def run_sweep(spec: SweepSpec, options: SweepOptions,
              say: Callable[[str], None] = print) -> SweepOutcome:
    """Run every point of ``spec`` that ``options.out`` has no result for, storing each as it
    finishes; then write the summary and the Pareto plot."""
    t0 = time.monotonic()
    out = check_out_dir(options.out)
    _dask()
    done = read_results(out / RESULTS)
    keys = {p.key for p in spec.points}
    todo = [p for p in spec.points if p.key not in done
            or (options.retry_failed and done[p.key].get("status") != "ok")]
    skipped = len(spec.points) - len(todo)
    if todo:
        preflight(spec, local=options.scheduler is None)
    say(f"sweep {spec.name}: {len(spec.points)} points, {skipped} already done in {out}, "
        f"{len(todo)} to run (stages {', '.join(spec.stages)})")
    counts = {"ok": 0, "failed": 0}
    axes = spec_axes(spec)
    if todo:
        with _client(options, len(todo), say) as client:
            _make_folder(out / ARTIFACTS)   # only once a cluster answers
            _run(client, todo, out, counts, t0, axes, say)
    rows = [r for k, r in read_results(out / RESULTS).items() if k in keys]
    elapsed = time.monotonic() - t0
    _, png = write_summary(out, spec.name, rows, len(spec.points), axes, elapsed)
    return SweepOutcome(total=len(spec.points), skipped=skipped, ran=len(todo),
                        ok=sum(r.get("status") == "ok" for r in rows),
                        failed=sum(r.get("status") != "ok" for r in rows), elapsed_s=elapsed,
                        pareto=pareto_table(rows, axes), png=png)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror or exc}; "
                          "choose a writable --out") from None


def _run(client: Any, todo: Sequence[PointSpec], out: Path, counts: dict[str, int],
         t0: float, axes: Sequence[str], say: Callable[[str], None]) -> None:
    from distributed import wait
    started: queue.SimpleQueue[str] = queue.SimpleQueue()
    client.subscribe_topic(TOPIC, lambda event: started.put(event[1]["point"]))
    results = ResultsFile(out / RESULTS)
    by_key = {f"hlsgen-sweep-{p.key}": p for p in todo}
    futures = [client.submit(_task, p, key=k, pure=False) for k, p in by_key.items()]
    pending, running, finished = set(futures), set(), 0
    last = 0.0
    try:
        while pending:
            try:
                ready = wait(list(pending), timeout=HEARTBEAT_S, return_when="FIRST_COMPLETED")
                now_done = ready.done
            except TimeoutError:
                now_done = set()
            while not started.empty():
                running.add(started.get())
            for fut in sorted(now_done, key=lambda f: by_key[f.key].index):
                pending.discard(fut)
                point = by_key[fut.key]
                res = _collect(fut, point)
                if res.artifact_text is not None:
                    atomic_write_text(out / ARTIFACTS / f"{point.key}.json", res.artifact_text)
                results.append(res.row)
                running.discard(point.key)
                finished += 1
                counts["ok" if res.row["status"] == "ok" else "failed"] += 1
                say(_point_line(point, res.row, axes))
            if now_done or time.monotonic() - last >= HEARTBEAT_S:
                last = time.monotonic()
                say(f"{finished}/{len(todo)} done, {len(running)} running, "
                    f"{counts['failed']} failed, elapsed {_clock(last - t0)}")
    finally:
        client.cancel(list(pending))
        client.unsubscribe_topic(TOPIC)


def _collect(fut: Any, point: PointSpec) -> PointResult:
    """The task's result, or a failed row when Dask could not run it (e.g. its workers kept
    dying: KilledWorker)."""
    if fut.status == "finished":
        return fut.result()
    exc = fut.exception()
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    row = {"point": point.key, "index": point.index,
           "params": {k: list(v) if isinstance(v, tuple) else v for k, v in point.params},
           "stages": list(point.stages), "status": "failed",
           "error": f"dask: {exc.__class__.__name__}: {text[:300]}"}
    return PointResult(point.key, row, None)


def _point_line(point: PointSpec, row: dict[str, Any], axes: Sequence[str]) -> str:
    params = dict(point.params)
    what = ", ".join(f"{k}={params[k]}" for k in axes if k in params) or "the only point"
    if row["status"] != "ok":
        return f"point {point.index} FAILED ({what}): {row['error']}"
    acc = accuracy(row)
    figures = [f"accuracy {100 * acc:.2f}%" if acc is not None else None,
               f"{row.get('adders')} adders", f"{row.get('weight_bits')} weight bits",
               f"{row['elapsed_s']:.0f} s"]
    return f"point {point.index} ok ({what}): " + ", ".join(f for f in figures if f)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def spec_axes(spec: SweepSpec) -> list[str]:
    """The settings that differ between the points that have them, and ``artifact`` where
    some points start from one (shown in tables), in first-seen order."""
    seen: dict[str, set[str]] = {}
    for p in spec.points:
        for k, v in p.params:
            seen.setdefault(k, set()).add(repr(v))
    return [k for k, values in seen.items() if len(values) > 1 or k == "artifact"]
