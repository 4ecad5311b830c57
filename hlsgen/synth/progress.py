"""Progress of a long tool run: every few seconds, the stage, the elapsed time and what the
tool's own log says it is doing (its latest Yosys pass or nextpnr step)."""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

Progress = Callable[[str], None]

_YOSYS_PASS = re.compile(r"^\s*\d+(?:\.\d+)*\. Executing (\S+ (?:pass|frontend|backend))", re.M)
# nextpnr's phase lines (not its per-iteration tables): packing, placing, routing, reporting
_NEXTPNR_STEP = re.compile(r"^Info: ((?:Packing|Creating|Running|Routing|Critical path|"
                           r"Program)\b.*?)\s*$", re.M)


def _tail(log: Path, size: int = 16384) -> str:
    try:
        with log.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def yosys_step(log_text: str) -> str | None:
    """The latest pass a Yosys log has started, e.g. ``"ABC9 pass"``."""
    found = _YOSYS_PASS.findall(log_text)
    return found[-1] if found else None


def nextpnr_step(log_text: str, width: int = 60) -> str | None:
    """The latest phase line of a nextpnr log (e.g. ``"Routing 3454 arcs."``), shortened."""
    found = _NEXTPNR_STEP.findall(log_text)
    if not found:
        return None
    line = found[-1]
    return line if len(line) <= width else line[:width - 3] + "..."


@contextmanager
def heartbeat(progress: Progress | None, stage: str, log: Path,
              step: Callable[[str], str | None], every_s: float) -> Iterator[None]:
    """Call ``progress`` every ``every_s`` seconds while the body runs:
    ``"<stage>: 45 s (ABC9 pass)"``. Does nothing without a ``progress`` callback."""
    if progress is None or every_s <= 0:
        yield
        return
    start = time.monotonic()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            now = step(_tail(log))
            progress(f"{stage}: {time.monotonic() - start:.0f} s" + (f" ({now})" if now else ""))

    thread = threading.Thread(target=beat, name=f"hlsgen-synth-{stage}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
