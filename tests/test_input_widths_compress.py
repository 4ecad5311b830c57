"""The compressor's per-feature input widths (``CompressConfig.input_widths = "auto"``): a
short compression of the digits MLP records ``input_bits`` that drop the always-zero pixels,
and its integer accuracy is the reference numerics' (the wrap included)."""

from __future__ import annotations

import numpy as np
import pytest

from compression.custom import check_config
from compression.pipeline import CompressConfig, compress
from compression.widths import choose_input_widths
from hlsgen import artifact, flow, numerics
from hlsgen.datasets import load_digits_split
from hlsgen.fixedpoint import QType
from hlsgen.plan import make_plan

SHORT = dict(epochs=6, admm_epochs=8, finetune_epochs=4)


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


def _by_hand(split, q: QType) -> list[int]:
    """Each feature's bits from its largest converted training value (unsigned data)."""
    x = numerics.convert(split.x_train, split.input_type, q)
    return [int(v).bit_length() for v in x.max(axis=0)]


def test_widths_from_the_training_maxima(split):
    q = QType(3, 2, False)
    bits = choose_input_widths(split.input_type, split.x_train, q)
    assert list(bits) == _by_hand(split, q)
    assert bits.count(0) >= 1 and max(bits) == 3
    # the training inputs pass the wrap unchanged; some never-seen test value may wrap
    x = numerics.convert(split.x_train, split.input_type, q)
    assert np.array_equal(numerics.wrap_inputs(x, q, bits), x)


def test_kept_bits_signed_by_hand():
    q = QType(5, 0, True)
    x = np.array([[0, 3, -4, -1, 15, 0], [0, -3, 3, 0, -16, 1]])
    # 0: dropped; [-3, 3]: 3 bits; [-4, 3]: 3; [-1, 0]: 1; [-16, 15]: 5; [0, 1]: 2
    assert numerics.kept_bits(x, q) == (0, 3, 3, 1, 5, 2)


def test_compress_with_input_widths_auto(split):
    r = compress(split, CompressConfig(in_bits=3, input_widths="auto", w_bits=4, **SHORT),
                 progress=False)
    net = r.network
    assert net.input == QType(3, 2, False)
    assert net.input_bits is not None and list(net.input_bits) == _by_hand(split, net.input)
    dropped = [i for i, b in enumerate(net.input_bits) if b == 0]
    x_tr = numerics.convert(split.x_train, split.input_type, net.input)
    assert dropped and all(x_tr[:, i].max() == 0 for i in dropped)
    assert flow.reference_accuracy(net, split) == r.int_accuracy
    back = artifact.loads(artifact.dumps(net))
    assert back.input_bits == net.input_bits
    assert not set(make_plan(net).layers[0].used_inputs) & set(dropped)  # feeds no adder


def test_input_widths_settings_are_checked():
    with pytest.raises(ValueError, match="input_widths"):
        CompressConfig(input_widths="learned")
    with pytest.raises(ValueError, match="input_widths auto"):
        check_config(CompressConfig(input_widths="auto"))
    check_config(CompressConfig())
