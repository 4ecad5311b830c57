"""The MLP the compressor trains, and fake quantization that makes it compute like hlsgen.

The model is a plain ``nn.Sequential`` of ``Linear``/``ReLU`` with an :class:`ActFakeQuant`
after every ReLU (unsigned) and after the last ``Linear`` (signed logits). The quantizers
are identities until :func:`calibrate` gives them a power-of-two scale; after that the model
computes, in float, what :mod:`hlsgen.numerics` computes in integers:

* inputs are ``DIGITS_INPUT`` values (``pixel / 16``, exact);
* weights are on their layer's grid (the :class:`~compression.admm.MicroStructure`
  parametrization fake-quantizes them);
* the bias is rounded to the accumulator grid ``2**-(in_frac + w_frac)`` (:class:`BiasFakeQuant`);
* the output is rounded half up to ``2**-out_frac``, ReLU'd, saturated to ``a_bits``.

Every value above is a small integer times a power of two, so the float32 sums are exact (as
long as an accumulator stays below 2**24 of its unit, true for 8-bit layers of a few hundred
inputs) and the fake-quantized model agrees bit for bit with the integer model.
Gradients pass straight through the rounding (STE) and are zero where a value saturates.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from hlsgen.artifact import QType

from .admm import MicroStructure

__all__ = [
    "ActFakeQuant",
    "accuracy",
    "BiasFakeQuant",
    "build_mlp",
    "calibrate",
    "layer_fracs",
    "linear_layers",
    "quant_enabled",
    "round_half_up",
    "set_quant_enabled",
]


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 0.5)``: the rounding of :func:`hlsgen.numerics.requantize` and ``quantize``."""
    return torch.floor(x + 0.5)


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward identity.

    ``x + (q - x)`` is exactly ``q`` here: ``q`` is ``x`` rounded to a grid, so either ``q`` is
    0 or ``q/2 <= x <= 2q`` and the subtraction is exact (Sterbenz) -- the forward value stays
    on the grid bit for bit, which the export relies on.
    """
    return x + (q - x).detach()


class ActFakeQuant(nn.Module):
    """Fake-quantize activations to ``bits`` with ``frac`` fractional bits (power-of-two scale).

    Rounds half up and saturates exactly like :func:`hlsgen.numerics.requantize`; the gradient
    is straight-through inside the range and zero where the value saturates. An identity until
    :func:`calibrate` sets ``frac`` (or ``enabled`` is cleared).
    """

    def __init__(self, bits: int, signed: bool) -> None:
        super().__init__()
        self.bits = int(bits)
        self.signed = bool(signed)
        self.register_buffer("frac", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("calibrated", torch.tensor(False))
        self.enabled = True

    @property
    def lo(self) -> int:
        return QType(self.bits, 0, self.signed).lo

    @property
    def hi(self) -> int:
        return QType(self.bits, 0, self.signed).hi

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.calibrated)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        scale = 2.0 ** int(self.frac)
        scaled = x * scale
        q = torch.clamp(round_half_up(scaled), self.lo, self.hi)
        inside = (scaled >= self.lo) & (scaled <= self.hi)
        # STE inside the range, zero gradient where saturated.
        return torch.where(inside, _ste(scaled, q), q) / scale

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, signed={self.signed}, "
                f"frac={int(self.frac) if bool(self.calibrated) else None}")


class BiasFakeQuant(nn.Module):
    """Parametrization rounding a bias onto the accumulator grid ``2**-frac`` (STE).

    Half-up rounding like :func:`hlsgen.numerics.quantize`; ``frac`` (``in_frac + w_frac``)
    is set by :func:`calibrate`. An identity until then.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("frac", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("calibrated", torch.tensor(False))
        self.enabled = True

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        if not (self.enabled and bool(self.calibrated)):
            return b
        scale = 2.0 ** int(self.frac)
        return _ste(b, round_half_up(b * scale) / scale)


def build_mlp(in_features: int = 64, hidden: Sequence[int] = (64,), classes: int = 10,
              a_bits: int = 8) -> nn.Sequential:
    """``Linear, ReLU, ActFakeQuant(unsigned)`` per hidden layer, then ``Linear,
    ActFakeQuant(signed)``. The quantizers stay identities until :func:`calibrate`."""
    layers: list[nn.Module] = []
    width = int(in_features)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU(), ActFakeQuant(a_bits, signed=False)]
        width = int(h)
    layers += [nn.Linear(width, int(classes)), ActFakeQuant(a_bits, signed=True)]
    return nn.Sequential(*layers)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on float inputs ``x``."""
    was = model.training
    model.eval()
    acc = float((model(x).argmax(1) == y).double().mean())
    model.train(was)
    return acc


def linear_layers(model: nn.Sequential) -> list[tuple[int, nn.Linear, ActFakeQuant | None, bool]]:
    """``(index, linear, its output quantizer or None, relu follows)`` for each Linear."""
    out = []
    mods = list(model)
    for i, m in enumerate(mods):
        if not isinstance(m, nn.Linear):
            continue
        relu, quant = False, None
        for nxt in mods[i + 1:]:
            if isinstance(nxt, nn.Linear):
                break
            if isinstance(nxt, nn.ReLU):
                relu = True
            elif isinstance(nxt, ActFakeQuant):
                quant = nxt
            elif isinstance(nxt, nn.Dropout):
                pass  # identity at inference
            else:
                raise TypeError(f"layer {i + 1}: only Linear/ReLU/ActFakeQuant/Dropout are "
                                f"supported, "
                                f"got {type(nxt).__name__}")
        out.append((i, m, quant, relu))
    return out


def _weight_param(linear: nn.Linear) -> MicroStructure | None:
    if parametrize.is_parametrized(linear, "weight"):
        for p in linear.parametrizations.weight:
            if isinstance(p, MicroStructure):
                return p
    return None


def _bias_quant(linear: nn.Linear) -> BiasFakeQuant:
    if linear.bias is None:
        raise ValueError("every Linear needs a bias (hlsgen layers always have one)")
    if parametrize.is_parametrized(linear, "bias"):
        for p in linear.parametrizations.bias:
            if isinstance(p, BiasFakeQuant):
                return p
    bq = BiasFakeQuant()
    parametrize.register_parametrization(linear, "bias", bq)
    return bq


def _quantizers(model: nn.Module) -> Iterator[nn.Module]:
    for m in model.modules():
        if isinstance(m, (ActFakeQuant, BiasFakeQuant)):
            yield m


def set_quant_enabled(model: nn.Module, enabled: bool) -> None:
    """Switch every activation and bias fake quantizer on or off (weights are not affected)."""
    for m in _quantizers(model):
        m.enabled = enabled


def quant_enabled(model: nn.Module) -> bool:
    return any(m.enabled and bool(m.calibrated) for m in _quantizers(model))


def _act_frac(values: torch.Tensor, bits: int, signed: bool, percentile: float) -> int:
    from hlsgen.numerics import frac_for_range

    mags = values.detach().abs().flatten().to(torch.float64)
    if mags.numel() == 0:
        return frac_for_range(0.0, bits, signed)
    k = max(1, min(mags.numel(), int(round(percentile / 100.0 * mags.numel()))))
    cover = float(torch.sort(mags).values[k - 1])
    return frac_for_range(cover, bits, signed)


@torch.no_grad()
def calibrate(model: nn.Sequential, x: torch.Tensor, input_frac: int,
              percentile: float = 99.9, logit_percentile: float = 100.0) -> list[dict[str, int]]:
    """Choose every activation and bias scale from the data ``x`` (float inputs), layer by layer.

    Each hidden quantizer takes the largest ``frac`` whose range covers the ``percentile`` of
    the layer's (already quantized upstream) activations; the logits cover
    ``logit_percentile`` (saturating logits create argmax ties). A ``frac`` above
    ``in_frac + w_frac`` is lowered to it so the requantize shift is never negative. Needs
    the weights' parametrization (their ``w_frac``). Returns the fracs per Linear.
    """
    fracs = []
    in_frac = int(input_frac)
    was_training = model.training
    model.eval()
    h = x
    mods = list(model)
    for idx, lin, quant, relu in linear_layers(model):
        wp = _weight_param(lin)
        if wp is None:
            raise ValueError(f"layer {idx}: the weight has no MicroStructure parametrization; "
                             "freeze the sparsifier before calibrating")
        w_frac = int(wp.w_frac)
        acc_frac = in_frac + w_frac
        bq = _bias_quant(lin)
        bq.frac.fill_(acc_frac)
        bq.calibrated.fill_(True)
        # run this layer's Linear (+ReLU) in float, pick the output scale, then quantize
        j = idx
        h = lin(h)
        j += 1
        while j < len(mods) and not isinstance(mods[j], nn.Linear):
            if isinstance(mods[j], nn.ReLU):
                h = mods[j](h)
            j += 1
        if quant is None:
            raise ValueError(f"layer {idx}: no ActFakeQuant after it; build the model with "
                             "build_mlp")
        pct = percentile if relu else logit_percentile
        out_frac = min(_act_frac(h, quant.bits, quant.signed, pct), acc_frac)
        quant.frac.fill_(out_frac)
        quant.calibrated.fill_(True)
        h = quant(h)
        fracs.append({"in_frac": in_frac, "w_frac": w_frac, "out_frac": out_frac})
        in_frac = out_frac
    model.train(was_training)
    return fracs


def layer_fracs(model: nn.Sequential) -> list[dict[str, int]]:
    """The calibrated ``in_frac``/``w_frac``/``out_frac`` of each Linear (after calibrate)."""
    out = []
    in_frac = None
    for idx, lin, quant, _ in linear_layers(model):
        wp = _weight_param(lin)
        if wp is None or quant is None or not bool(quant.calibrated):
            raise ValueError(f"layer {idx} is not frozen and calibrated")
        bq = _bias_quant(lin)
        w_frac = int(wp.w_frac)
        if in_frac is None:
            in_frac = int(bq.frac) - w_frac
        out.append({"in_frac": in_frac, "w_frac": w_frac, "out_frac": int(quant.frac)})
        in_frac = int(quant.frac)
    return out
