"""The templates ship inside the wheel: a wheel built from this tree renders a design."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_built_wheel_contains_and_renders_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), "-q"],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("hlsgen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    templates = sorted(str(p.relative_to(ROOT / "templates"))
                       for p in (ROOT / "templates").rglob("*.j2"))
    assert all(f"hlsgen/templates/{t}" in names for t in templates)
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    script = (
        "import numpy as np, hlsgen.templating as t\n"
        "from hlsgen.randnet import random_network\n"
        "from hlsgen.generate import design\n"
        "assert 'site' in str(t.template_dir()), t.template_dir()\n"
        "_, rendered = design(random_network(np.random.default_rng(0), [5, 4], (2, 2)))\n"
        "print(len(rendered.tree()))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) == 4   # FIFO, layer, top, design.json


def test_hlsgen_imports_neither_torch_nor_the_compressor():
    """The dependency runs one way: compression imports hlsgen, never the reverse (the CLI
    finds the compressor through the hlsgen.compressors entry point)."""
    script = ("import sys, pkgutil, importlib, hlsgen\n"
              "for m in pkgutil.walk_packages(hlsgen.__path__, 'hlsgen.'):\n"
              "    if m.name not in ('hlsgen.__main__', 'hlsgen.sim.axis_tb'):\n"
              "        importlib.import_module(m.name)\n"
              "print(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'compression')))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_compressor_is_found_through_its_entry_point():
    from hlsgen import compressors

    assert type(compressors.load("digits")).__name__ == "DigitsCompressor"
    with pytest.raises(compressors.CompressorError, match="no compressor 'nope' is installed"):
        compressors.load("nope")
