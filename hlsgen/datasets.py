"""The built-in data set: scikit-learn's 8x8 handwritten digits (ships with the wheel).

One fixed split used by the compressor, the simulator and the report, so every accuracy
in a report is measured on the same test images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .artifact import QType

DIGITS_SEED = 0
DIGITS_TEST_FRACTION = 0.2
# Pixels are integers 0..16: as unsigned 8-bit integers with 4 fractional bits they are
# exactly the network's input (value = pixel / 16), so no input quantization error exists.
DIGITS_INPUT = QType(bits=8, frac=4, signed=False)


@dataclass(frozen=True, eq=False)
class Split:
    """Integer inputs (``DIGITS_INPUT``) and labels of a train/test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_type: QType = DIGITS_INPUT

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def load_digits_split() -> Split:
    """The digits set split 80/20, stratified, with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = data.data.astype(np.int64)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=DIGITS_TEST_FRACTION,
                                              random_state=DIGITS_SEED, stratify=y)
    return Split(x_tr, y_tr, x_te, y_te)
