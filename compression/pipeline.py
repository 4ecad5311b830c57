"""One call from the digits data set to a compressed, integer :class:`hlsgen.artifact.Network`.

    result = compress_digits(CompressConfig())
    hlsgen.artifact.save(result.network, "digits.json")

Phases, each with a tqdm bar over its epochs:

1. dense float training (Adam, label smoothing) -> ``float_accuracy``;
2. ADMM towards the micro-structure: W-step SGD (momentum) on loss + penalty, then the Z-step
   (projection) and U-step once per epoch, rho growing geometrically up to a cap
   (:class:`~compression.admm.ExponentialRhoScheduler`);
3. hard projection, frozen structure (:class:`~compression.admm.MicroStructure`), activation
   and bias scales calibrated on the training set;
4. fine-tuning with the structure frozen and weights, biases and activations fake-quantized
   -> ``compressed_float_accuracy``;
5. export to an artifact and ``int_accuracy`` with :func:`hlsgen.numerics.forward`.

Methods (``method``): ``"admm"`` (:class:`~compression.admm.MicroStructureSparsifier`) or
``"reweighted"`` (:class:`~compression.admm.ReweightedSparsifier`, reweighted dynamic
regularization); both end in the same hard projection, fine-tuning and export. Joint
quantization: ``w_scale="search"`` lets the projection choose each layer's power-of-two scale
in every Z-step (``w_bits`` down to 2, ternary, and 1, binary); ``k_digits`` restricts every
weight to at most ``k`` nonzero canonical-signed-digit digits (the artifact's
``meta["digits"]`` holds the digit histogram).

A ``checkpoint`` file (``compress(..., checkpoint=path)``) is written after the dense phase and
every ``checkpoint_every`` ADMM epochs (model, optimizer, sparsifier and rho scheduler
``state_dict``, data-order generator); a later run with the same config resumes from it and
gives the same artifact.

Runs are deterministic: a fixed seed, ``torch.use_deterministic_algorithms(True)`` and one
thread (restored afterwards, as is the global RNG state), so the same config gives a
byte-identical artifact on the same machine.

Why the default structure is row blocks rather than (4, 4): the hardware cost counts one
multiplier per unified block *row*, so a ``(1, 16)`` unified block needs one multiplier for 16
weights where a ``(4, 4)`` one needs four; and the weight bits are dominated by the sign bit
of every kept weight, which favours keeping many binary (unified) weights over few dense
ones. The small classifier layer is the most sensitive, so it gets finer ``(1, 4)`` blocks,
less pruning and a few dense blocks (``output_*``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

import hlsgen.artifact
from hlsgen.artifact import QType
from hlsgen.datasets import Split, load_digits_split
from hlsgen.numerics import convert, forward, predict

from .admm import METHODS, W_SCALES, ExponentialRhoScheduler, make_sparsifier
from .budget import CostPenalty, with_budgets
from .export import export_network, json_safe
from .model import accuracy, build_mlp, calibrate, layer_fracs, linear_layers
from .projection import csd_digits
from .widths import (MIN_W_BITS, as_float, choose_act_bits, choose_input_bits,
                     choose_input_widths, choose_weight_bits, input_type)

OBJECTIVES = ("multipliers", "luts", "bits")
WIDTHS = ("fixed", "auto", "all")
INPUT_WIDTHS = ("fixed", "auto")

__all__ = ["LOW_BIT_LR_FACTOR", "CompressConfig", "CompressResult", "accuracy",
           "admm_step_lr", "compress", "compress_digits", "deterministic", "digit_histogram"]


@dataclass(frozen=True)
class CompressConfig:
    """Everything that determines a compression run (and so the artifact, bit for bit).

    ``block``/``prune``/``unify`` apply to the hidden layers; ``output_block``,
    ``output_prune`` and ``output_unify`` to the last (classifier) layer, each ``None``
    meaning "same as the hidden layers". ``prune`` is the fraction of a layer's blocks that
    are pruned, ``unify`` the fraction of the remaining blocks that are unified (the rest
    stay dense).
    """

    hidden: tuple[int, ...] = (64,)
    block: tuple[int, int] = (1, 16)
    prune: float = 0.5
    unify: float = 1.0
    output_block: tuple[int, int] | None = (1, 4)
    output_prune: float | None = 0.4
    output_unify: float | None = 0.8
    w_bits: int = 8
    a_bits: int = 8
    epochs: int = 60             # dense float training (Adam)
    admm_epochs: int = 200       # ADMM; one Z/U step per epoch
    finetune_epochs: int = 100   # structure frozen, fake-quantized
    lr: float = 3e-3             # Adam learning rate of the dense training
    rho: float = 3e-4            # initial ADMM penalty ...
    seed: int = 0
    rho_growth: float = 1.05     # ... multiplied by this after every ADMM epoch ...
    rho_max: float = 1.0         # ... up to this cap
    admm_optimizer: str = "sgd"  # ADMM W-step: "sgd" (momentum 0.9) or "adam"
    # The two learning rates below were chosen by a seed sweep (seeds 0-9, 2-core AMD EPYC):
    # with 0.05 / 3e-3 the integer accuracy scattered 1.7 points around the dense model's
    # depending on rounding-level differences of the training trajectory (0.972 on this
    # machine for seed 0); with 0.4 / 0.01 8 of 10 seeds land within 1 point of it.
    admm_lr: float = 0.4         # (times LOW_BIT_LR_FACTOR at w_bits <= 2: admm_step_lr)
    admm_reset_optimizer: bool = False  # clear optimizer state after each Z/U step
    finetune_lr: float = 0.01    # Adam, cosine-annealed to 0 over the fine-tuning epochs
    batch_size: int = 64
    label_smoothing: float = 0.1  # cross-entropy label smoothing (every phase)
    act_percentile: float = 99.9  # hidden activation ranges cover this percentile
    method: str = "admm"         # "admm" or "reweighted" (reweighted dynamic regularization)
    w_scale: str = "range"       # per-layer weight scale: from the range, or "search" (joint
    #                              quantization: the projection picks it in every Z-step)
    k_digits: int | None = None  # at most this many nonzero CSD digits per weight magnitude
    rw_eps: float = 0.5          # reweighted: alpha_b = 1 / (r_b / mean r + eps)
    rw_every: int = 4            # reweighted: re-weight every this many epochs
    # What the projection minimizes the distance under (see compression/budget.py):
    # "multipliers": the block fractions above fix how many blocks are pruned / unified /
    # dense; "luts": a hardware-cost budget per layer (modelled adder bits, hlsgen.cost),
    # every block choosing its kind and digit count by distance per cost; "bits": the same
    # with the stored weight bits as the cost (the ROMs of the folded design). The budget is
    # ``max_luts`` (estimated LUT-eq of the whole design) when given, else what the
    # fraction structure would cost; it is split among layers in proportion to that cost.
    objective: str = "luts"
    max_luts: int | None = None
    # with objective "luts": the W-step's differentiable cost surrogate, a group lasso
    # weighted by each block's modelled cost (compression.budget.CostPenalty); 0 disables it
    cost_reg: float = 0.0
    # Widths: the input is converted to ``in_bits`` (None: the data's own type); "auto"
    # chooses the input width and every hidden layer's activation width (at most a_bits)
    # as the narrowest whose training accuracy stays within ``width_tol`` of the full width;
    # "all" also every layer's weight width (at most w_bits; compression/widths.py).
    in_bits: int | None = None
    widths: str = "fixed"
    width_tol: float = 0.005
    # Per-feature input widths: "auto" keeps, after the input type is chosen, each input
    # feature's fewest bits holding its largest converted training value (0: the feature
    # is always 0 and dropped), recorded in the artifact's input_bits (WRAP beyond them)
    input_widths: str = "fixed"

    def __post_init__(self) -> None:
        # accept lists (e.g. from JSON or a command line) but store tuples
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("block", "output_block"):
            value = getattr(self, name)
            if value is not None:
                if len(value) != 2 or min(value) < 1:
                    raise ValueError(f"{name} must be two positive integers, got {value!r}")
                object.__setattr__(self, name, (int(value[0]), int(value[1])))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must list positive layer widths, got {self.hidden!r}")
        for name in ("prune", "unify", "output_prune", "output_unify"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if not 1 <= self.w_bits <= hlsgen.artifact.MAX_BITS:
            raise ValueError(f"w_bits must lie in [1, {hlsgen.artifact.MAX_BITS}]")
        if not 2 <= self.a_bits <= hlsgen.artifact.MAX_BITS:
            raise ValueError(f"a_bits must lie in [2, {hlsgen.artifact.MAX_BITS}]")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.w_scale not in W_SCALES:
            raise ValueError(f"w_scale must be one of {', '.join(W_SCALES)}, "
                             f"got {self.w_scale!r}")
        if self.k_digits is not None and not 1 <= self.k_digits <= self.w_bits:
            raise ValueError(f"k_digits must lie in [1, w_bits], got {self.k_digits}")
        if self.rw_eps <= 0 or self.rw_every < 1:
            raise ValueError("rw_eps must be positive and rw_every >= 1")
        if min(self.epochs, self.admm_epochs, self.finetune_epochs) < 0:
            raise ValueError("epoch counts must be >= 0")
        if min(self.batch_size, self.lr, self.admm_lr, self.finetune_lr, self.rho) <= 0:
            raise ValueError("batch_size, lr, admm_lr, finetune_lr and rho must be positive")
        if self.rho_growth < 1 or self.rho_max < self.rho:
            raise ValueError("need rho_growth >= 1 and rho_max >= rho")
        if self.admm_optimizer not in ("sgd", "adam"):
            raise ValueError(f"admm_optimizer must be 'sgd' or 'adam', got {self.admm_optimizer!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, "
                             f"got {self.objective!r}")
        if self.max_luts is not None and (self.objective != "luts" or self.max_luts < 1):
            raise ValueError("max_luts needs objective 'luts' and must be >= 1")
        if self.cost_reg < 0 or (self.cost_reg > 0 and self.objective != "luts"):
            raise ValueError("cost_reg must be >= 0 and needs objective 'luts'")
        if self.in_bits is not None and not 2 <= self.in_bits <= hlsgen.artifact.MAX_BITS:
            raise ValueError(f"in_bits must lie in [2, {hlsgen.artifact.MAX_BITS}]")
        if self.input_widths not in INPUT_WIDTHS:
            raise ValueError(f"input_widths must be one of {', '.join(INPUT_WIDTHS)}, "
                             f"got {self.input_widths!r}")
        if self.widths not in WIDTHS or not 0.0 <= self.width_tol < 1.0:
            raise ValueError(f"widths must be one of {', '.join(WIDTHS)} and width_tol in "
                             "[0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0 or not 0.0 < self.act_percentile <= 100.0:
            raise ValueError("label_smoothing must lie in [0, 1) and act_percentile in (0, 100]")

    def layer_config(self, index: int, n_layers: int) -> dict[str, Any]:
        """Sparsifier settings (block, prune, unify, w_bits; k_digits and w_scale when not the
        defaults) of Linear layer ``index``."""
        last = index == n_layers - 1

        def pick(own: Any, out: Any) -> Any:
            return out if last and out is not None else own

        return {"block": pick(self.block, self.output_block),
                "prune": pick(self.prune, self.output_prune),
                "unify": pick(self.unify, self.output_unify),
                "w_bits": self.w_bits,
                **({"k_digits": self.k_digits} if self.k_digits is not None else {}),
                **({"w_scale": self.w_scale} if self.w_scale != "range" else {})}


# The ADMM W-step learning rate of ternary and binary runs (w_bits <= 2) is admm_lr times this.
# At 0.4 the SGD W-step of a ternary/binary 64-128-64-10 net (compact structure: 2x32 blocks,
# 60% pruned, all unified) kills almost every first-hidden-layer ReLU during ADMM (122 of 128
# never fire on the training set by epoch 200; float accuracy 0.20 before the projection, 0.36
# integer after fine-tuning) while 8 and 4 bits train fine. Seed 0, integer accuracy of the
# benchmark's admm-q2 / admm-q1 rows on 64-64-10 and 64-128-64-10 at W-step lr 0.4: 0.956,
# 0.944, 0.358, 0.392; at 0.2: 0.967, -, 0.972, 0.967; at 0.1 (this factor): 0.969, 0.956,
# 0.950, 0.967; at 0.05: 0.928, 0.947, 0.972, 0.947.
LOW_BIT_LR_FACTOR = 0.25


def admm_step_lr(cfg: CompressConfig) -> float:
    """The learning rate of the ADMM (or reweighted) W-step: ``admm_lr``, times
    :data:`LOW_BIT_LR_FACTOR` for ternary and binary weights (``w_bits <= 2``)."""
    return cfg.admm_lr * (LOW_BIT_LR_FACTOR if cfg.w_bits <= 2 else 1.0)


@dataclass(frozen=True)
class CompressResult:
    network: hlsgen.artifact.Network
    float_accuracy: float             # the dense, uncompressed float model on the test split
    compressed_float_accuracy: float  # the fine-tuned compressed (fake-quant) model
    int_accuracy: float               # hlsgen.numerics.forward on the exported network


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seeded, deterministic, single-threaded torch; the global settings and the global
    RNG state are restored on exit."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(det, warn_only=det_warn)
            torch.set_num_threads(threads)


def _progress(n: int, desc: str, enabled: bool):
    from tqdm import tqdm

    # mininterval: in a log (no TTY) a bar redraws at most once a second, not every epoch
    return tqdm(range(n), desc=desc, disable=not enabled, unit="epoch", dynamic_ncols=True,
                mininterval=0.1 if sys.stderr.isatty() else 1.0)


def _epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
           cfg: CompressConfig, gen: torch.Generator,
           extra: Callable[[], torch.Tensor] | None = None) -> float:
    """One epoch of shuffled minibatch training; returns the mean loss."""
    model.train()
    perm = torch.randperm(x.shape[0], generator=gen)
    total, n = 0.0, 0
    for i in range(0, x.shape[0], cfg.batch_size):
        idx = perm[i:i + cfg.batch_size]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx],
                                           label_smoothing=cfg.label_smoothing)
        if extra is not None:
            loss = loss + extra()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * idx.numel()
        n += idx.numel()
    return total / max(n, 1)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path | None, cfg: CompressConfig) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    try:
        state = torch.load(path, weights_only=False)
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is the same problem
        raise ValueError(f"checkpoint {path} is unreadable ({exc}); delete it to start over")
    if not isinstance(state, dict) or state.get("config") != asdict(cfg):
        raise ValueError(f"checkpoint {path} is of another configuration; delete it or pass "
                         "the settings it was written with")
    return state


def digit_histogram(net: hlsgen.artifact.Network) -> dict[str, int]:
    """How many stored weight magnitudes (one per unified block, every nonzero dense weight)
    have 1, 2, ... nonzero canonical-signed-digit digits; keys are the digit counts."""
    from hlsgen.artifact import BlockKind, block_slices

    counts: dict[int, int] = {}
    for layer in net.layers:
        nbr, nbc = layer.kinds.shape
        for brow in range(nbr):
            for bcol in range(nbc):
                kind = BlockKind(int(layer.kinds[brow, bcol]))
                rs, cs = block_slices(brow, bcol, layer.out_features, layer.in_features,
                                      layer.block)
                w = layer.weight[rs, cs].ravel()
                values = [abs(int(w[0]))] if kind is BlockKind.UNIFIED else (
                    [abs(int(v)) for v in w if v != 0] if kind is BlockKind.DENSE else [])
                for v in values:
                    d = csd_digits(v)
                    counts[d] = counts.get(d, 0) + 1
    return {str(k): counts[k] for k in sorted(counts)}


def compress(split: Split, config: CompressConfig = CompressConfig(), progress: bool = True,
             name: str = "digits_mlp", checkpoint: str | os.PathLike[str] | None = None,
             checkpoint_every: int = 10) -> CompressResult:
    """Train, compress and export an MLP for ``split`` (integer inputs of ``split.input_type``).

    With ``checkpoint`` the run saves its state after the dense phase and every
    ``checkpoint_every`` ADMM epochs, and resumes from the file when it exists (same config
    required); the artifact is the same as without interruption."""
    cfg = config
    if checkpoint_every < 1:
        raise ValueError("checkpoint_every must be >= 1")
    ckpt_path = None if checkpoint is None else Path(checkpoint)
    resume = _load_checkpoint(ckpt_path, cfg)
    src_q = split.input_type
    in_q = src_q if cfg.in_bits is None else input_type(src_q, split.x_train, cfg.in_bits)

    def inputs(q: QType) -> tuple[torch.Tensor, torch.Tensor]:
        # the float model sees exactly the values the integers of type q mean
        return (as_float(convert(split.x_train, src_q, q), q),
                as_float(convert(split.x_test, src_q, q), q))

    x_tr, x_te = inputs(in_q)
    y_tr = torch.tensor(split.y_train, dtype=torch.int64)
    y_te = torch.tensor(split.y_test, dtype=torch.int64)
    with deterministic(cfg.seed):
        gen = torch.Generator().manual_seed(cfg.seed)
        model = build_mlp(split.features, cfg.hidden, split.classes, cfg.a_bits)

        # 1. the dense float model
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        if resume is None:
            bar = _progress(cfg.epochs, "dense", progress)
            for _ in bar:
                bar.set_postfix(loss=f"{_epoch(model, opt, x_tr, y_tr, cfg, gen):.4f}",
                                refresh=False)
            float_acc = accuracy(model, x_te, y_te)
        else:
            model.load_state_dict(resume["model"])
            gen.set_state(resume["gen"])
            float_acc = float(resume["float_accuracy"])
        if cfg.widths != "fixed" and cfg.in_bits is None:
            # chosen from the dense model once; a resumed run reads the choice back
            in_q = (choose_input_bits(model, split.x_train, y_tr, src_q, cfg.width_tol)
                    if resume is None else QType(**resume["input_type"]))
            x_tr, x_te = inputs(in_q)
        layer_w_bits: list[int] | None = None
        if cfg.widths == "all":
            layer_w_bits = (choose_weight_bits(model, x_tr, y_tr, cfg.w_bits, cfg.width_tol,
                                               max(MIN_W_BITS, cfg.k_digits or 0))
                            if resume is None else list(resume.get("w_bits") or ()) or None)

        # 2. ADMM (or reweighted regularization) towards the micro-structure
        linears = [lin for _, lin, _, _ in linear_layers(model)]
        sparsifier = make_sparsifier(cfg.method, rho=cfg.rho, eps=cfg.rw_eps,
                                     reweight_every=cfg.rw_every)
        groups = [cfg.layer_config(i, len(linears)) for i in range(len(linears))]
        for g, bits in zip(groups, layer_w_bits or ()):
            g["w_bits"] = bits
        groups = with_budgets(groups, [lin.weight.detach() for lin in linears], in_q.bits,
                              cfg.a_bits, sum(lin.out_features for lin in linears),
                              cfg.objective, cfg.max_luts)
        cost_penalty = None
        if cfg.cost_reg > 0:
            cost_penalty = CostPenalty(linears, [g["block"] for g in groups],
                                       [g["in_bits"] for g in groups], cfg.cost_reg)
        sparsifier.prepare(model, [{"module": lin, **g} for lin, g in zip(linears, groups)])
        rho_scheduler = ExponentialRhoScheduler(sparsifier, growth=cfg.rho_growth,
                                                max_rho=cfg.rho_max)
        step_lr = admm_step_lr(cfg)
        if cfg.admm_optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=step_lr, momentum=0.9)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=step_lr)
        start = 0
        if resume is not None and resume["admm_epoch"] > 0:
            start = int(resume["admm_epoch"])
            sparsifier.load_state_dict(resume["sparsifier"])
            rho_scheduler.load_state_dict(resume["rho_scheduler"])
            opt.load_state_dict(resume["optimizer"])

        def save(epoch: int) -> None:
            if ckpt_path is not None:
                _save_checkpoint(ckpt_path, {
                    "config": asdict(cfg), "admm_epoch": epoch, "model": model.state_dict(),
                    "input_type": in_q.to_json(), "w_bits": layer_w_bits,
                    "gen": gen.get_state(), "float_accuracy": float_acc,
                    "sparsifier": sparsifier.state_dict() if epoch else None,
                    "rho_scheduler": rho_scheduler.state_dict() if epoch else None,
                    "optimizer": opt.state_dict() if epoch else None})

        if resume is None:
            save(0)
        bar = _progress(cfg.admm_epochs, cfg.method, progress)
        bar.update(start)
        for epoch in range(start, cfg.admm_epochs):
            loss = _epoch(model, opt, x_tr, y_tr, cfg, gen, sparsifier.penalty
                          if cost_penalty is None else
                          (lambda: sparsifier.penalty() + cost_penalty()))  # noqa: B023
            sparsifier.step()
            rho_scheduler.step()
            if cfg.admm_reset_optimizer:
                opt.state.clear()
            res = max(sparsifier.residuals().values(), default=0.0)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", residual=f"{res:.3f}", rho=f"{sparsifier.rho:.3g}",
                            refresh=False)
            if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == cfg.admm_epochs:
                save(epoch + 1)
        bar.close()
        admm_acc = accuracy(model, x_te, y_te)

        # 3. hard projection, frozen structure, quantizers calibrated on the training set
        sparsifier.freeze()
        projected_acc = accuracy(model, x_te, y_te)
        calibrate(model, x_tr, in_q.frac, percentile=cfg.act_percentile)
        if cfg.widths != "fixed":
            choose_act_bits(model, x_tr, y_tr, in_q.frac, cfg.width_tol, cfg.act_percentile)
        quantized_acc = accuracy(model, x_te, y_te)

        # 4. fine-tuning: structure frozen, everything fake-quantized
        opt = torch.optim.Adam(model.parameters(), lr=cfg.finetune_lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.finetune_epochs))
        bar = _progress(cfg.finetune_epochs, "finetune", progress)
        for _ in bar:
            bar.set_postfix(loss=f"{_epoch(model, opt, x_tr, y_tr, cfg, gen):.4f}", refresh=False)
            sched.step()
        compressed_acc = accuracy(model, x_te, y_te)
        train_acc = accuracy(model, x_tr, y_tr)

        meta: dict[str, Any] = {
            "generator": "compression.pipeline.compress",
            "dataset": "sklearn digits, hlsgen.datasets.load_digits_split",
            "config": asdict(cfg),
            "seed": cfg.seed,
            "torch": torch.__version__,
            "accuracy": {
                "float": float_acc,
                "admm_float": admm_acc,
                "projected_float": projected_acc,
                "calibrated_quantized": quantized_acc,
                "compressed_float": compressed_acc,
                "compressed_train": train_acc,
            },
            "fracs": layer_fracs(model),
            "admm": sparsifier.state(),
        }
        if step_lr != cfg.admm_lr:  # recorded where it is not the configured admm_lr
            meta["admm_step_lr"] = step_lr
        net = export_network(model, in_q, name=name, meta=json_safe(meta))
        if cfg.input_widths == "auto":  # after the input type is final
            net = replace(net, input_bits=choose_input_widths(src_q, split.x_train, in_q))

    # 5. the integer model, by the reference arithmetic (the wrap included)
    x_int = convert(split.x_test, src_q, in_q)
    int_acc = float(np.mean(predict(forward(net, x_int)) == split.y_test))
    meta["accuracy"]["int"] = int_acc
    meta["digits"] = {"k_digits": cfg.k_digits, "histogram": digit_histogram(net)}
    net = hlsgen.artifact.Network(name=net.name, input_features=net.input_features,
                                  input=net.input, layers=net.layers, meta=json_safe(meta),
                                  input_bits=net.input_bits)
    hlsgen.artifact.validate(net)
    return CompressResult(network=net, float_accuracy=float_acc,
                          compressed_float_accuracy=compressed_acc, int_accuracy=int_acc)


def compress_digits(config: CompressConfig = CompressConfig(), progress: bool = True,
                    checkpoint: str | os.PathLike[str] | None = None,
                    checkpoint_every: int = 10) -> CompressResult:
    """Compress an MLP for the built-in digits split (the entry the CLI uses)."""
    return compress(load_digits_split(), config, progress=progress, name="digits_mlp",
                    checkpoint=checkpoint, checkpoint_every=checkpoint_every)
