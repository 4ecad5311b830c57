"""``hlsgen sweep`` end to end on Dask distributed: a 6-point sweep (synthesis off, tiny nets,
few epochs, 16 vectors on Verilator) on a LocalCluster with 2 workers, then the same sweep
on a separate ``dask scheduler`` with two ``dask worker`` processes.

One point is meant to fail (a 6-input network simulated on the digits images): it must be
recorded with its one-line error while the other five finish.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.cli import main
from hlsgen.flow import accuracies
from hlsgen.plan import make_plan
from hlsgen.randnet import random_network
from hlsgen.report import build_report
from hlsgen.schedules import make_schedule
from hlsgen.sweep import SweepOptions, load_spec, run_sweep
from hlsgen.sweep.point import VOLATILE
from hlsgen.sweep.results import read_results

pytestmark = [pytest.mark.sim, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
[sweep]
name = "test"
stages = ["compress", "generate", "simulate"]

[settings]
hidden = [8]
epochs = 2
admm_epochs = 2
finetune_epochs = 1
count = 16

[grid]
prune = [0.3, 0.6]
w_bits = [4, 8]

[[points]]
prune = 0.9
w_bits = 6

[[points]]
artifact = "tiny.json"       # 6 inputs: the digits images do not fit it
"""


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Dask distributed missing in CI: {exc}")
        pytest.skip(f"needs the sweep extra ({exc})")


def _stable(rows: dict[str, dict]) -> dict[str, dict]:
    return {k: {f: v for f, v in r.items() if f not in VOLATILE} for k, r in rows.items()}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory, simulator):
    _require_dask()
    folder = tmp_path_factory.mktemp("sweep")
    net = random_network(np.random.default_rng(3), [6, 5, 3], (1, 2))
    artifact.save(net, folder / "tiny.json")
    (folder / "spec.toml").write_text(SPEC)
    spec = load_spec(folder / "spec.toml")
    out = folder / "local"
    outcome = run_sweep(spec, SweepOptions(out=out, workers=2, dashboard=None))
    return spec, out, outcome, (out / "results.jsonl").read_text()


def test_local_sweep_table_failures_and_resume(local_sweep, capsys):
    spec, out, outcome, text = local_sweep
    assert (outcome.total, outcome.ran, outcome.skipped) == (6, 6, 0)
    assert (outcome.ok, outcome.failed) == (5, 1)
    lines = text.splitlines()
    assert len(lines) == 6
    rows = read_results(out / "results.jsonl")
    assert sorted(r["index"] for r in rows.values()) == list(range(6))
    assert sorted(rows) == sorted(p.key for p in spec.points)

    failed = [r for r in rows.values() if r["status"] == "failed"]
    assert [r["index"] for r in failed] == [5]
    assert failed[0]["error"].startswith("simulate: ")
    assert "does not take 8x8 digits images" in failed[0]["error"]
    assert "\n" not in failed[0]["error"]

    for point in spec.points[:5]:
        row = rows[point.key]
        assert row["status"] == "ok" and row["error"] is None, row
        assert row["rtl_vectors"] == 16 and row["rtl_mismatches"] == 0
        assert row["rtl_protocol_errors"] == [] and row["rtl_tlast_ok"] is True
        assert row["params"]["prune"] == dict(point.params)["prune"]
        # the row's figures are the stored artifact's report (recomputed here)
        net = artifact.load(out / "artifacts" / f"{point.key}.json")
        assert row["artifact_sha256"] == artifact.digest(net)
        assert [l.w_bits for l in net.layers] == [dict(point.params)["w_bits"]] * 2
        rep = build_report(make_schedule(make_plan(net)), accuracies=accuracies(net))
        for key in ("weight_bits", "adders", "latency_cycles", "blocks", "int_accuracy",
                    "float_accuracy", "block_multipliers"):
            assert row[key] == rep[key], key
        assert 0.0 <= row["rtl_accuracy"] <= 1.0
    # more pruning, fewer weight bits (same w_bits)
    by = {(r["params"]["prune"], r["params"]["w_bits"]): r for r in rows.values()
          if r["status"] == "ok"}
    assert by[(0.6, 8)]["weight_bits"] < by[(0.3, 8)]["weight_bits"]

    summary = (out / "summary.md").read_text()
    assert "5 ok, 1 failed" in summary and "Pareto front: accuracy vs weight bits" in summary
    assert "point 5 (artifact=tiny.json): simulate: " in summary
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Pareto front" in outcome.pareto

    # a re-run skips every point and changes no result
    assert main(["sweep", str(spec.path), "--out", str(out), "--workers", "2"]) == 1
    said = capsys.readouterr().out
    assert "6 already done" in said and "0 to run" in said
    assert (out / "results.jsonl").read_text() == text

    # interrupted after 4 results, the last line cut short: the re-run finishes the 2 others
    (out / "results.jsonl").write_text("\n".join(lines[:4]) + "\n" + lines[4][:25])
    again = run_sweep(spec, SweepOptions(out=out, workers=2, dashboard=None))
    assert (again.ran, again.skipped, again.ok, again.failed) == (2, 4, 5, 1)
    assert _stable(read_results(out / "results.jsonl")) == _stable(rows)


def _dask_cli() -> str:
    cli = Path(sys.executable).parent / "dask"
    if not cli.is_file():
        pytest.fail(f"no dask command beside {sys.executable}; install the sweep extra")
    return str(cli)


def _lost_worker_task(client, name: str, timeout: float) -> str:
    """Wait until worker ``name`` runs a sweep point; returns its key."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.scheduler_info(n_workers=-1)["workers"]
        for addr, keys in client.processing().items():
            if info.get(addr, {}).get("name") == name and keys:
                return keys[0]
        time.sleep(0.2)
    raise AssertionError(f"worker {name} never ran a point")


def test_sweep_on_a_separate_scheduler_and_workers(local_sweep, tmp_path):
    """`dask scheduler` + two `dask worker` processes; one worker is killed while it runs a
    point: Dask re-runs that point on the other, and the results equal the local run's."""
    spec, local_out, _, _ = local_sweep
    from distributed import Client

    dask = _dask_cli()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.is_file():
            assert time.monotonic() < deadline, "dask scheduler did not start"
            assert procs[0].poll() is None, "dask scheduler exited"
            time.sleep(0.2)
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            (tmp_path / f"w{i}").mkdir()
        for i in range(2):   # no nanny: killing the process loses the worker for good
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard",
                 "--local-directory", str(tmp_path / f"w{i}"), "--name", f"w{i}"],
                # the killed worker's temporary folder stays behind: keep it in tmp_path
                env={**env, "TMPDIR": str(tmp_path / f"w{i}")}, cwd=tmp_path,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out = tmp_path / "remote"
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
            sweep = subprocess.Popen(
                [sys.executable, "-m", "hlsgen.cli", "sweep", str(spec.path), "--out",
                 str(out), "--scheduler", address],
                env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True)
            procs.append(sweep)
            lost = _lost_worker_task(client, "w1", timeout=120)
            time.sleep(1.0)
            procs[2].kill()
            said, _ = sweep.communicate(timeout=480)
        assert sweep.returncode == 1, said     # 1: the failing point, recorded
        assert "2 workers" in said and "5 ok, 1 failed of 6 points" in said, said
        assert lost.startswith("hlsgen-sweep-")
        remote = read_results(out / "results.jsonl")
        assert _stable(remote) == _stable(read_results(local_out / "results.jsonl"))
        for key in remote:
            if remote[key]["status"] == "ok":
                assert (out / "artifacts" / f"{key}.json").read_bytes() == \
                    (local_out / "artifacts" / f"{key}.json").read_bytes()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
