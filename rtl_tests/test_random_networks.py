"""Property test: any network hypothesis draws is generated and simulated bit-exactly.

Networks vary in depth, layer sizes (including sizes that are not multiples of the block
shape), block shapes, weight and activation widths from 2 to 16 bits, kind mixes (including
all-pruned layers and rows), biases at the extremes, and inputs at the extremes of their range.
Every backend that exists is generated and compared with the reference in every bit: the
unrolled Verilog simulated under random backpressure, and the HLS C++ C-simulated with g++
(``csim``) on the same vectors.

Profiles: the CI profile runs SHARDS x 5 = 30 networks. The long profile
(``HLSGEN_PROFILE=long``, or ``make test-long``) runs SHARDS x 50 = 300. Shards are seeded
separately so pytest-xdist spreads them over the cores and every run is reproducible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from hlsgen.randnet import random_inputs, random_network
from hlsgen.sim.runner import SimConfig

from .conftest import check_design
from .test_csim import check_csim, csim_tools  # noqa: F401  (csim_tools: a fixture)

SHARDS = 6
PER_SHARD = {"ci": 5, "long": 50}[os.environ.get("HLSGEN_PROFILE", "ci")]
KIND_MIXES = [
    (0.4, 0.4, 0.2),   # mixed
    (0.8, 0.15, 0.05),  # heavily pruned (all-pruned rows are common)
    (1.0, 0.0, 0.0),   # everything pruned: outputs are the bias alone
    (0.0, 1.0, 0.0),   # all unified
    (0.0, 0.0, 1.0),   # all dense
    (0.3, 0.0, 0.7),
]


@dataclass(frozen=True)
class Case:
    sizes: tuple[int, ...]
    block: tuple[int, int]
    w_bits: int
    a_bits: int
    kinds: tuple[float, float, float]
    bias_scale: float
    signed_input: bool
    seed: int


cases = st.builds(
    Case,
    sizes=st.lists(st.integers(1, 13), min_size=2, max_size=4).map(tuple),
    block=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    w_bits=st.integers(2, 16),
    a_bits=st.integers(2, 16),
    kinds=st.sampled_from(KIND_MIXES),
    bias_scale=st.sampled_from([0.0, 1.0, 64.0]),
    signed_input=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)


@pytest.mark.sim
@pytest.mark.csim
@pytest.mark.parametrize("shard", range(SHARDS))
def test_random_networks_bit_exact(shard: int, tmp_path_factory, simulator,
                                   csim_tools) -> None:
    ran = []

    @seed(20261123 + shard)
    @settings(max_examples=PER_SHARD, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(case=cases)
    def check(case: Case) -> None:
        rng = np.random.default_rng(case.seed)
        net = random_network(rng, case.sizes, case.block, case.w_bits, case.a_bits,
                             case.kinds, case.bias_scale, case.signed_input)
        x = random_inputs(rng, net, 24)
        workdir = tmp_path_factory.mktemp("net")
        check_design(net, x, workdir,
                     SimConfig(seed=case.seed % 1000, stall_in=0.3, stall_out=0.3))
        check_csim(net, x, workdir)
        ran.append(case)

    check()
    assert len(ran) >= PER_SHARD, f"only {len(ran)} networks ran"
