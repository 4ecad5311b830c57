"""Property test: random CNNs (conv geometry, channels, block shapes, pooling, dense tail,
signed or unsigned inputs, bit widths) are generated and simulated bit-exactly by the
streaming engine (Icarus: fast to build; Verilator runs the fixed cases of test_conv.py),
one pixel per input beat, with random gaps on the input, random backpressure on the output
and stray tlasts on pixels other than an image's last (which the top ignores).
``HLSGEN_PROFILE=long`` draws ten times as many."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hlsgen.randcnn import random_cnn
from hlsgen.sim.runner import SimConfig

from .test_conv import check_stream

EXAMPLES = {"ci": 6, "long": 60}[os.environ.get("HLSGEN_PROFILE", "ci")]


@st.composite
def cnns(draw):
    c = draw(st.integers(1, 4))
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    kh, kw = draw(st.integers(1, min(h, 4))), draw(st.integers(1, min(w, 4)))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    out = draw(st.integers(1, 5))
    window = kh * kw * c
    block = (draw(st.integers(1, out)), draw(st.integers(1, window)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    pools = [None] + [(m, k) for m in ("max", "avg") for k in (2, 4) if k <= min(ho, wo)]
    pool = draw(st.sampled_from(pools))
    dense = draw(st.sampled_from([(), (3,), (4, 2)]))
    bits = draw(st.sampled_from([(8, 8), (4, 6), (12, 10)]))
    signed = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return dict(chw=(c, h, w), conv=dict(out=out, kernel=(kh, kw), stride=(sh, sw),
                                         padding=(ph, pw), block=block),
                pool=pool, dense=dense, bits=bits, signed=signed, seed=seed)


@pytest.mark.sim
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=cnns())
def test_random_cnn_bit_exact(spec, tmp_path_factory, icarus):
    """Random CNNs on Icarus (fast builds; rtl_tests/test_conv.py covers Verilator)."""
    rng = np.random.default_rng(spec["seed"])
    w_bits, a_bits = spec["bits"]
    net = random_cnn(rng, spec["chw"], [spec["conv"]], spec["pool"], spec["dense"],
                     w_bits=w_bits, a_bits=a_bits, input_signed=spec["signed"])
    q = net.input
    x = rng.integers(q.lo, q.hi + 1, size=(6, net.input_features), dtype=np.int64)
    x[0], x[1] = q.lo, q.hi
    check_stream(net, x, tmp_path_factory.mktemp("cnn"), icarus,
                 SimConfig(seed=spec["seed"], frame=4, stray_tlast=0.2))
