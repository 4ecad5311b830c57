"""Synthesis and place and route of a generated design folder with the PyPI YoWASP tools
(``pip install 'hlsgen[synth]'``): Yosys ``synth_ecp5`` (with and without DSPs) and
``synth_xilinx`` for the counts, ``nextpnr-ecp5`` (out of context) for post-route Fmax.

    from hlsgen.synth import SynthConfig, synthesize
    report["synth"] = synthesize(Path("out/design"), Path("out/synth"), SynthConfig(),
                                 progress=print)

``yosys_cell_counts`` / ``count_cells`` count the generic cells (``$mul``, ``$add``, ...) the
RTL itself asks for, independently of the generator's own multiplier count.
"""

from .design import SynthError
from .ecp5 import DEVICES, PARTS
from .flow import SynthConfig, synthesize
from .targets import TARGETS
from .yosys import count_cells, yosys_cell_counts

__all__ = ["DEVICES", "PARTS", "TARGETS", "SynthConfig", "SynthError", "count_cells",
           "synthesize", "yosys_cell_counts"]
