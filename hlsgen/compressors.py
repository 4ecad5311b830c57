"""The seam between hlsgen and a compressor: compressors register themselves under the
``hlsgen.compressors`` entry-point group, and hlsgen finds them here. hlsgen never imports
torch or the ``compression`` package; the dependency runs one way (``compression`` -> hlsgen).

A compressor is an object with ``prepare(settings, progress, say) -> run``: ``prepare``
checks the settings (ValueError naming the bad one) before any work, ``run()`` trains and
returns the compressed :class:`~hlsgen.network.Network` or raises
:class:`CompressionFailed` when the settings could not be met.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Callable, Mapping, Protocol

from .network import Network

GROUP = "hlsgen.compressors"
INSTALL = ("install it with `pip install torch==2.13.0` (CPU build) and "
           "`pip install -e .[compress]`")


class CompressorError(RuntimeError):
    """No usable compressor: one line saying how to install it."""


class CompressionFailed(RuntimeError):
    """The compressor ran but could not meet its settings (e.g. an accuracy floor no trial
    reached): one line naming what was reached and what to change."""


class Compressor(Protocol):
    def prepare(self, settings: Mapping[str, Any], progress: bool,
                say: Callable[[str], None]) -> Callable[[], Network]: ...


def load(name: str = "digits") -> Compressor:
    """The compressor registered as ``name``, instantiated."""
    found = [ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise CompressorError(f"no compressor {name!r} is installed; {INSTALL}")
    try:
        factory = found[0].load()
    except ImportError as exc:
        raise CompressorError(f"the compressor needs torch ({exc}); {INSTALL}") from None
    return factory()
