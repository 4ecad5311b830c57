"""hlsgen: generate FPGA hardware (Verilog) from micro-structured compressed neural networks.

The package never imports torch: an artifact file plus numpy and jinja2 is all it needs.
"""

__version__ = "0.1.0"
