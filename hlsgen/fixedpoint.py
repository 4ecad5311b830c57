"""Fixed-point integer types: what every activation, weight and bias in the IR is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QType:
    """A fixed-point integer type: ``bits`` wide, ``frac`` fractional bits, signed or not.

    A value ``v`` of this type means ``v * 2**-frac``.
    """

    bits: int
    frac: int
    signed: bool

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def to_json(self) -> dict[str, Any]:
        return {"bits": self.bits, "frac": self.frac, "signed": self.signed}
