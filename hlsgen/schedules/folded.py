"""The folded (resource) architecture: per layer ``P`` processing elements walk a ROM of the
kept blocks, one block per clock, and the layers run as a dataflow pipeline.

**Walk.** A layer's block rows (``br`` output rows each) are dealt to its PEs; a PE walks the
kept blocks of its block rows, one ROM word per clock: a unified block adds/subtracts its
``bc`` inputs by the sign bits and multiplies the sum once by the magnitude, a dense block
multiplies and sums its ``br x bc`` weights (only in layers whose artifact has dense blocks).
Pruned blocks are not stored and cost no cycle; a block row whose blocks are all pruned costs
one word (its bias alone). The first word of a block row starts each row's accumulator at
``bias + rounding constant``; its last word hands the rows to requantize (shift, ReLU,
saturate, exactly :mod:`hlsgen.numerics`) and writes them into output slot ``brow``, so the
permutation is undone in the output: the interface is the unrolled design's.

**Load balancing** (the weight permutation of the Tight Compression paper): block rows are
jobs of as many cycles as they have words; longest-processing-time first (LPT) sorts them by
length and gives each to the least-loaded PE. Graham's bound: the busiest PE carries at most
``(4/3 - 1/(3P))`` times the optimum, and at most ``ceil(W/P) + c - 1`` words for ``W`` words
in all and ``c`` the longest job; with short jobs it meets ``ceil(W/P)``.

**Capacity.** The RTL is generic over a ROM capacity fixed at generation
(:class:`~hlsgen.manifest.LayerCapacity`: P, depth, the word's field widths, shift, ReLU):
widths are sized for *any* weights that fit the fields, not the artifact's, so another
artifact of the same layer shapes runs on the same RTL with other ROM images
(:func:`fit`). All PEs of a layer walk in lockstep through ``depth`` words (shorter walks
padded with invalid words); the ROM image is one word per address holding every PE's word,
PE 0 in the least significant bits.

**Pipeline.** Per layer: issue (address), S1 ROM word, S2 input select, S3 signed sums and
dense products, S4 magnitude product and dense sum, S5 accumulate, then the result is written
into one of two output buffers (ping-pong). A walk starts when an input vector is offered and
the next output buffer is free, so ``x_ready`` is a function of registers only and a layer
never stalls mid-walk; back-to-back walks give one inference every ``depth`` cycles, and the
network's interval is the slowest layer's depth. ``cycles_lower_bound`` is the max over layers
of ``ceil(kept_blocks / P)`` (every kept block is one PE cycle and the layers overlap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence, Union

from ..blockrom import pe_word_width
from ..blocks import BlockKind, BlockPlan, block_grid, input_width
from ..fixedpoint import QType
from ..layerplan import LayerPlan
from ..manifest import LayerCapacity
from ..numerics import check_acc_width, signed_width, sum_range
from ..plan import DesignPlan
from .stream import (TLAST_AW, CollectStage, ConvWindow, PassLayer, PixelInput, PoolStage,
                     control_adders, conv_window, pixel_input, stage_chain)

DEFAULT_CYCLE_BUDGET = 32  # the default P makes each layer's walk about this many cycles
STAGES = 5                 # registers from the issued address to the accumulator (S1..S5)
# a walk's output buffer is free again depth + TURNAROUND cycles after the walk starts (its
# last word reaches S5, the result is offered, taken at once, and the buffer marked empty)
TURNAROUND = STAGES + 1
ROM_SUFFIX = "blocks"


class FitError(ValueError):
    """ROM contents that do not fit a folded design's capacity (one line: what and where)."""


@dataclass(frozen=True)
class PeWord:
    """One ROM word of a PE: a kept block of block row ``brow`` (None: the row's bias alone,
    for a block row with no kept block), whether it starts / ends its block row, and the
    row's biases (on its first word; zeros elsewhere)."""

    brow: int
    block: BlockPlan | None
    first: bool
    last: bool
    bias: tuple[int, ...]


@dataclass(frozen=True)
class SumTree:
    """A balanced adder tree over ``leaves`` values: level ``l`` pairs the nodes of level
    ``l - 1`` (``(a, b)``, or ``(a, None)`` passing a node on); ``widths[l]`` its width."""

    leaves: int
    levels: tuple[tuple[tuple[int, int | None], ...], ...]
    widths: tuple[int, ...]

    @property
    def root_width(self) -> int:
        return self.widths[-1]

    @property
    def adders(self) -> int:
        return sum(b is not None for level in self.levels for _, b in level)


def sum_tree(leaves: int, leaf_range: tuple[int, int]) -> SumTree:
    """A balanced tree summing ``leaves`` values of ``leaf_range``; every node is as wide as
    the range of the sum of the leaves under it (numerics' range rules)."""
    levels: list[tuple[tuple[int, int | None], ...]] = []
    widths = [signed_width(*leaf_range)]
    count, span = leaves, 1
    while count > 1:
        pairs = tuple((2 * i, 2 * i + 1 if 2 * i + 1 < count else None)
                      for i in range((count + 1) // 2))
        levels.append(pairs)
        count = len(pairs)
        span = min(leaves, span * 2)
        widths.append(signed_width(span * leaf_range[0], span * leaf_range[1]))
    return SumTree(leaves, tuple(levels), tuple(widths))


def _union(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return min(a[0], b[0]), max(a[1], b[1])


def _term(q: QType, magnitude: int) -> tuple[int, int]:
    """The range of ``c * x`` for any integer ``|c| <= magnitude`` and ``x`` of type ``q``."""
    return _union(sum_range([magnitude], q), sum_range([-magnitude], q))


@dataclass(frozen=True)
class FoldedLayer:
    """One layer of the folded schedule: its capacity, PE assignment and datapath widths."""

    plan: LayerPlan
    capacity: LayerCapacity
    assignment: tuple[tuple[int, ...], ...]   # block rows per PE, in walk order
    words: tuple[tuple[PeWord, ...], ...]     # per PE, unpadded
    in_width: int       # signed width of an input inside a PE
    sign_tree: SumTree  # a unified row: sum of +-x over the block's columns
    dense_tree: SumTree | None  # a dense row: sum of the products (None: no dense datapath)
    product_width: int  # a dense weight times an input
    unified_width: int  # signed sum times the magnitude
    contrib_width: int  # a block row's contribution (either kind)
    acc_width: int
    round_const: int
    q_width: int
    clamp_hi: int | None
    clamp_lo: int | None
    out_type: QType = field(repr=False)

    @property
    def index(self) -> int:
        return self.plan.index

    @property
    def pes(self) -> int:
        return self.capacity.pes

    @property
    def depth(self) -> int:
        return self.capacity.depth

    @property
    def kept_blocks(self) -> int:
        return len(self.plan.kept_blocks)

    @property
    def busiest(self) -> int:
        """Words of the busiest PE (kept blocks plus bias-only words)."""
        return max(len(w) for w in self.words)

    @property
    def busiest_blocks(self) -> int:
        """Kept blocks of the busiest PE (bias-only words not counted)."""
        return max(sum(w.block is not None for w in ws) for ws in self.words)

    @property
    def lower_bound(self) -> int:
        """``ceil(kept_blocks / P)``: no walk of the kept blocks on P PEs is shorter."""
        return max(1, math.ceil(self.kept_blocks / self.pes))

    @property
    def rom_bits(self) -> int:
        return self.depth * self.pes * self.capacity.pe_width

    @property
    def stages(self) -> int:
        return STAGES

    @property
    def latency(self) -> int:
        """Cycles from taking an input vector to offering its result (no stalls)."""
        return self.depth + STAGES

    @property
    def multiplier_count(self) -> int:
        """Multipliers: one per PE row for the magnitude, one per dense weight slot."""
        br, bc = self.plan.block
        return self.pes * br * (1 + (bc if self.dense_tree is not None else 0))

    @property
    def adder_count(self) -> int:
        """Two-input adders of the datapath: per PE row the signed-sum tree, the dense tree,
        the accumulator and its bias + rounding constant; the walk counter."""
        br, _ = self.plan.block
        per_row = self.sign_tree.adders + 2 + (self.dense_tree.adders
                                               if self.dense_tree is not None else 0)
        return self.pes * br * per_row + 1


@dataclass(frozen=True)
class FoldedConvStage(ConvWindow):
    """A conv layer of a folded CNN: the streaming conv's line buffers and window register
    (``templates/verilog/stream_conv_folded.v.j2``) in front of a folded layer ``core`` on
    the conv's ``[O, Kh*Kw*C]`` matrix, whose input vector is the window. A complete window
    waits in the window register (the pixel input stalls) until the core takes it; the core
    takes one every ``core.depth`` cycles at most (its walk), and the pixels up to the next
    window end advance meanwhile."""

    kind = "conv2d"
    index: int
    plan: LayerPlan
    core: FoldedLayer

    @property
    def control_adders(self) -> int:
        """The walk's counters (the core's are in its own count)."""
        return self.walk_adders

    @property
    def window_ends(self) -> tuple[int, ...]:
        """Raster indices (in the padded ``hp x wp`` walk) of the positions where a
        stride-aligned window ends."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        return tuple(r * self.wp + c for r in range(kh - 1, self.hp, sh)
                     for c in range(kw - 1, self.wp, sw))

    @property
    def take_times(self) -> tuple[int, ...]:
        """The cycles at which the core takes the windows of three images back to back (no
        stalls, the next stage taking each result at once), from the first window's take.

        The window ending ``g`` positions after the previous one is taken ``g`` cycles
        after it at the soonest (a position a clock, none while a window waits); the core
        takes one no sooner than ``depth`` cycles after the previous one (its walk), and no
        sooner than ``depth + TURNAROUND`` cycles after the one before that (it claims one
        of its two output buffers, free once the result two walks back is taken)."""
        ends = self.window_ends
        walk = self.hp * self.wp
        gaps = [ends[0] + walk - ends[-1]] + [b - a for a, b in zip(ends, ends[1:])]
        d = self.core.depth
        times = [0]
        for i in range(1, 3 * len(ends)):
            t = times[-1] + max(gaps[i % len(ends)], d)
            if i >= 2:
                t = max(t, times[-2] + d + TURNAROUND)
            times.append(t)
        return tuple(times)

    @property
    def cycles(self) -> int:
        """Cycles per image at full rate (images back to back, no stalls, the next stage
        never stalling it): the third image's windows' takes after the second's."""
        n = len(self.window_ends)
        times = self.take_times
        return times[2 * n] - times[n]

    @property
    def depth(self) -> int:
        """Window register, the wait for the core, and the core's walk and pipeline."""
        return self.core.latency + 2


@dataclass(frozen=True)
class FoldedDenseStage:
    """Consecutive dense layers of a folded CNN (after its flatten): folded layers in a
    chain, each handing its result to the next through its two output buffers."""

    index: int
    layers: tuple[FoldedLayer, ...]

    @property
    def cycles(self) -> int:
        return max(layer.depth for layer in self.layers)

    @property
    def depth(self) -> int:
        return sum(layer.latency for layer in self.layers)


FoldedStage = Union[FoldedConvStage, PoolStage, CollectStage, FoldedDenseStage]


@dataclass(frozen=True)
class FoldedSchedule:
    """The whole network as a dataflow pipeline of folded layers. A network with feature
    maps (conv2d, pooling, flatten) also has its ``pixel_in`` stream and its chain of
    ``stages`` (as :mod:`hlsgen.schedules.stream` builds them, with folded conv and dense
    stages); its ``layers`` then hold a :class:`PassLayer` for each pooling / flatten."""

    plan: DesignPlan
    layers: tuple[FoldedLayer | PassLayer, ...]
    arch: str = "folded"
    # The weights are data (ROM words), so each PE's products by its magnitude or dense weights
    # are general multipliers whatever --dsp says (that policy concerns constant weights).
    dsp: str = "runtime"
    pixel_in: PixelInput | None = None
    stages: tuple[FoldedStage, ...] = ()
    tlast_aw: int = TLAST_AW

    @property
    def folded_layers(self) -> tuple[FoldedLayer, ...]:
        """The layers with a ROM (dense and conv2d), in order."""
        return tuple(layer for layer in self.layers if isinstance(layer, FoldedLayer))

    @property
    def in_beats(self) -> int:
        """AXI4-Stream input beats per network input vector (a CNN: one per pixel)."""
        return self.pixel_in.pixels if self.pixel_in is not None else 1

    @property
    def initiation_interval(self) -> int:
        """Cycles between inferences in steady state: the slowest layer's walk (a CNN: the
        input's pixels or the slowest stage's cycles per image; the stages are decoupled by
        their output buffers, so this is what the simulation measures when the slowest stage
        is not starved by a burstier one before it)."""
        if self.stages:
            return max([self.in_beats] + [getattr(s, "cycles", 1) for s in self.stages])
        return max(layer.depth for layer in self.layers)

    @property
    def cycles_lower_bound(self) -> int:
        """Max over layers of ``ceil(kept_blocks / P)`` (the layers overlap); a conv walks
        once per window, and a CNN takes one pixel per clock at most."""
        bounds = [layer.lower_bound for layer in self.folded_layers]
        for s in self.stages:
            if isinstance(s, FoldedConvStage):
                bounds.append(len(s.window_ends) * s.core.lower_bound)
        return max(bounds + ([self.in_beats] if self.stages else []))

    @property
    def latency(self) -> int:
        """Cycles from taking an input to offering its result, no stalls (a CNN: a bound,
        every stage's walk and pipeline in turn; they overlap in hardware)."""
        if self.stages:
            return 1 + sum(getattr(s, "cycles", 0) + getattr(s, "depth", 1) + 1
                           for s in self.stages)
        return sum(layer.latency for layer in self.layers)

    @property
    def multipliers(self) -> int:
        return sum(layer.multiplier_count for layer in self.folded_layers)

    @property
    def adders(self) -> int:
        """Every adder and subtractor the RTL contains: the folded layers' PEs and walk
        counters, average pooling's sums, and a CNN's stream control (its stages' walk
        counters and the top's, :func:`~hlsgen.schedules.stream.control_adders`)."""
        datapath = sum(layer.adder_count for layer in self.layers)
        return datapath + (control_adders(self.stages) if self.stages else 0)

    @property
    def rom_bits(self) -> int:
        return sum(layer.rom_bits for layer in self.folded_layers)

    @property
    def capacities(self) -> tuple[LayerCapacity, ...]:
        return tuple(layer.capacity for layer in self.folded_layers)


# ----------------------------------------------------------------------------- balancing

def layer_jobs(lp: LayerPlan) -> dict[int, tuple[BlockPlan, ...]]:
    """Every block row and its kept blocks (empty: a bias-only row)."""
    nbr, _ = block_grid(lp.out_features, lp.in_features, lp.block)
    jobs: dict[int, list[BlockPlan]] = {r: [] for r in range(nbr)}
    for blk in lp.kept_blocks:
        jobs[blk.brow].append(blk)
    return {r: tuple(sorted(b, key=lambda blk: blk.bcol)) for r, b in jobs.items()}


def balance(costs: dict[int, int], pes: int) -> tuple[tuple[int, ...], ...]:
    """Longest processing time first: jobs (block row -> cycles) by decreasing cost, each to
    the least-loaded PE (ties: the lower index); each PE's rows in increasing order."""
    loads = [0] * pes
    rows: list[list[int]] = [[] for _ in range(pes)]
    for job in sorted(costs, key=lambda r: (-costs[r], r)):
        p = min(range(pes), key=lambda i: (loads[i], i))
        loads[p] += costs[job]
        rows[p].append(job)
    _refine(costs, rows, loads)
    return tuple(tuple(sorted(r)) for r in rows)


def _refine(costs: dict[int, int], rows: list[list[int]], loads: list[int]) -> None:
    """Improve an assignment in place: move a job off the busiest PE, or swap one of its jobs
    with another PE's, while that lowers the larger of the two loads. Never worse than LPT,
    so Graham's bound still holds; it often reaches ``ceil(total / P)`` where LPT does not."""
    improved = True
    while improved:
        improved = False
        hi = max(range(len(loads)), key=lambda i: (loads[i], -i))
        for lo in sorted(range(len(loads)), key=lambda i: (loads[i], i)):
            if lo == hi:
                continue
            best = None  # (new max of the pair, job out of hi, job out of lo or None)
            for a in rows[hi]:
                for b in [None, *rows[lo]]:
                    delta = costs[a] - (costs[b] if b is not None else 0)
                    if delta <= 0:
                        continue
                    pair = max(loads[hi] - delta, loads[lo] + delta)
                    if pair < loads[hi] and (best is None or pair < best[0]):
                        best = (pair, a, b)
            if best is not None:
                _, a, b = best
                delta = costs[a] - (costs[b] if b is not None else 0)
                rows[hi].remove(a)
                rows[lo].append(a)
                if b is not None:
                    rows[lo].remove(b)
                    rows[hi].append(b)
                loads[hi] -= delta
                loads[lo] += delta
                improved = True
                break


def _pe_words(lp: LayerPlan, jobs: dict[int, tuple[BlockPlan, ...]],
              rows: Sequence[int]) -> tuple[PeWord, ...]:
    br = lp.block[0]
    words = []
    for brow in rows:
        bias = [0] * br
        for r in lp.rows:
            if r.index // br == brow:
                bias[r.index - brow * br] = r.bias
        blocks: tuple[BlockPlan | None, ...] = jobs[brow] or (None,)
        for i, blk in enumerate(blocks):
            words.append(PeWord(brow, blk, i == 0, i + 1 == len(blocks),
                                tuple(bias) if i == 0 else (0,) * br))
    return tuple(words)


def default_pes(lp: LayerPlan, budget: int) -> int:
    """Enough PEs that the layer's walk is about ``budget`` cycles, at most one per block
    row."""
    jobs = layer_jobs(lp)
    words = sum(max(1, len(b)) for b in jobs.values())
    return max(1, min(len(jobs), math.ceil(words / budget)))


# ------------------------------------------------------------------------------ capacity

def _capacity(lp: LayerPlan, pes: int, depth: int) -> LayerCapacity:
    br, bc = lp.block
    nbr, nbc = block_grid(lp.out_features, lp.in_features, lp.block)
    dense = any(b.kind is BlockKind.DENSE for b in lp.kept_blocks)
    mag_bits = max(1, lp.w_bits - 1)  # binary (w_bits 1) stores its magnitude 1 too
    w_bits = lp.w_bits if dense else 0
    worst = sum_range([(1 << max(mag_bits, w_bits - 1))] * (nbc * bc), lp.in_type)
    worst = _union(worst, sum_range([-(1 << max(mag_bits, w_bits - 1))] * (nbc * bc),
                                    lp.in_type))
    bias_bits = max(signed_width(min(r.bias for r in lp.rows), max(r.bias for r in lp.rows)),
                    signed_width(*worst))
    return LayerCapacity(
        index=lp.index, name=lp.name, rom=rom_name(lp), pes=pes, depth=depth,
        pe_width=pe_word_width(br, bc, nbr, nbc, mag_bits, w_bits, bias_bits),
        block_rows=br, block_cols=bc, in_features=lp.in_features,
        out_features=lp.out_features, in_bits=lp.in_type.bits, in_signed=lp.in_type.signed,
        out_bits=lp.out_type.bits, out_signed=lp.out_type.signed, mag_bits=mag_bits,
        w_bits=w_bits, bias_bits=bias_bits, shift=lp.shift, relu=lp.relu)


def rom_name(lp: LayerPlan) -> str:
    safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in lp.name)
    return f"l{lp.index}_{safe}_{ROM_SUFFIX}"


def _datapath(lp: LayerPlan, cap: LayerCapacity, assignment: tuple[tuple[int, ...], ...],
              words: tuple[tuple[PeWord, ...], ...]) -> FoldedLayer:
    """Widths for any contents the capacity admits (not only this artifact's)."""
    where = f"layer {lp.index} ({lp.name!r})"
    q = lp.in_type
    bc = cap.block_cols
    nbc = block_grid(lp.out_features, lp.in_features, lp.block)[1]
    x_range = _term(q, 1)
    sign_tree = sum_tree(bc, x_range)
    mag_max = (1 << cap.mag_bits) - 1
    u_lo, u_hi = bc * x_range[0] * mag_max, bc * x_range[1] * mag_max
    unified = signed_width(u_lo, u_hi)
    dense_tree = None
    product = 0
    contrib = unified
    w_max = mag_max
    if cap.w_bits:
        w_max = max(mag_max, 1 << (cap.w_bits - 1))
        p_range = _term(q, 1 << (cap.w_bits - 1))
        product = signed_width(*p_range)
        dense_tree = sum_tree(bc, p_range)
        contrib = max(unified, dense_tree.root_width)
    worst = _term(q, w_max)
    n = nbc * bc
    bias_lo, bias_hi = -(1 << (cap.bias_bits - 1)), (1 << (cap.bias_bits - 1)) - 1
    acc_lo = n * worst[0] + bias_lo
    acc_hi = n * worst[1] + bias_hi + lp.round_const
    acc_width = check_acc_width(max(signed_width(acc_lo, acc_hi), contrib), where)
    q_lo, q_hi = acc_lo >> cap.shift, acc_hi >> cap.shift
    out = lp.out_type
    lo_bound = max(out.lo, 0) if lp.relu else out.lo
    clamp_hi = out.hi if q_hi > out.hi else None
    clamp_lo = lo_bound if q_lo < lo_bound else None
    q_width = signed_width(q_lo, q_hi)
    if clamp_hi is None and clamp_lo is None:
        q_width = min(q_width, out.bits)
    return FoldedLayer(plan=lp, capacity=cap, assignment=assignment, words=words,
                       in_width=input_width(q), sign_tree=sign_tree, dense_tree=dense_tree,
                       product_width=product, unified_width=unified, contrib_width=contrib,
                       acc_width=acc_width, round_const=lp.round_const, q_width=q_width,
                       clamp_hi=clamp_hi, clamp_lo=clamp_lo, out_type=out)


def _assign(lp: LayerPlan, pes: int) -> tuple[tuple[tuple[int, ...], ...],
                                              tuple[tuple[PeWord, ...], ...]]:
    jobs = layer_jobs(lp)
    assignment = balance({r: max(1, len(b)) for r, b in jobs.items()}, pes)
    return assignment, tuple(_pe_words(lp, jobs, rows) for rows in assignment)


def fold_layer(lp: LayerPlan, pes: int = 0, depth: int = 0,
               budget: int = DEFAULT_CYCLE_BUDGET) -> FoldedLayer:
    """Fold one layer on ``pes`` PEs (0: the default for ``budget``), ROM ``depth`` words
    (0: the busiest PE's)."""
    jobs = layer_jobs(lp)
    pes = pes or default_pes(lp, budget)
    if pes > len(jobs):
        raise ValueError(f"layer {lp.index} ({lp.name}) has {len(jobs)} block rows, so at "
                         f"most {len(jobs)} PEs; lower --pes")
    assignment, words = _assign(lp, pes)
    busiest = max(len(w) for w in words)
    if depth and depth < busiest:
        raise ValueError(f"layer {lp.index} ({lp.name}): --rom-depth {depth} is below the "
                         f"busiest PE's {busiest} words; raise it or add PEs")
    cap = _capacity(lp, pes, depth or busiest)
    return _datapath(lp, cap, assignment, words)


MATRIX_KINDS = ("dense", "conv2d")  # the layers folded onto PEs walking a ROM


def schedule_folded(plan: DesignPlan, pes: Sequence[int] = (), depths: Sequence[int] = (),
                    budget: int = DEFAULT_CYCLE_BUDGET) -> FoldedSchedule:
    """Fold every dense / conv2d layer: ``pes[i]`` PEs for the ``i``-th of them (0 or
    missing: the default from ``budget`` cycles), ``depths[i]`` ROM words (0: the busiest
    PE's words). A conv folds its ``[O, Kh*Kw*C]`` matrix, walked once per window; pooling
    and flatten are the streaming schedule's stages."""
    if budget < 1:
        raise ValueError(f"the cycle budget must be >= 1, got {budget}")
    if any(p < 0 for p in pes) or any(d < 0 for d in depths):
        raise ValueError("PE counts and ROM depths must be >= 0 (0: the default)")
    matrix = [lp for lp in plan.layers if lp.kind in MATRIX_KINDS]
    if len(pes) > len(matrix) or len(depths) > len(matrix):
        raise ValueError(f"{len(matrix)} dense/conv layers, but "
                         f"{max(len(pes), len(depths))} per-layer values given")
    folded = {lp.index: fold_layer(lp, pes[i] if i < len(pes) else 0,
                                   depths[i] if i < len(depths) else 0, budget)
              for i, lp in enumerate(matrix)}
    if all(lp.kind == "dense" for lp in plan.layers):
        return FoldedSchedule(plan, tuple(folded[lp.index] for lp in plan.layers))
    return _schedule_spatial(plan, folded)


def _schedule_spatial(plan: DesignPlan, folded: dict[int, FoldedLayer]) -> FoldedSchedule:
    """A network with feature maps: the streaming schedule's chain of stages, with each
    conv and the dense tail on folded layers."""
    per_layer, stages = stage_chain(
        plan, "folded", lambda lp: folded[lp.index],
        lambda lp, core: FoldedConvStage(lp.index, lp, core, **conv_window(lp)),
        lambda dense: FoldedDenseStage(dense[0].plan.index, dense))
    return FoldedSchedule(plan, per_layer, pixel_in=pixel_input(plan),
                          stages=stages)


# ----------------------------------------------------------------------------------- fit

def _fit_layer(lp: LayerPlan, cap: LayerCapacity) -> FoldedLayer:
    where = f"layer {lp.index} ({lp.name})"
    want = {"in_features": lp.in_features, "out_features": lp.out_features,
            "block_rows": lp.block[0], "block_cols": lp.block[1],
            "in_bits": lp.in_type.bits, "in_signed": lp.in_type.signed,
            "out_bits": lp.out_type.bits, "out_signed": lp.out_type.signed,
            "shift": lp.shift, "relu": lp.relu}
    for key, value in want.items():
        if getattr(cap, key) != value:
            raise FitError(f"{where}: {key} is {value} but the design's is "
                           f"{getattr(cap, key)}; generate a design for this artifact")
    if any(b.kind is BlockKind.DENSE for b in lp.kept_blocks) and not cap.w_bits:
        raise FitError(f"{where} has dense blocks but the design's PEs have no dense "
                       "datapath; generate a design for this artifact")
    mag_max, w_max = (1 << cap.mag_bits) - 1, (1 << (cap.w_bits - 1)) - 1 if cap.w_bits else 0
    for b in lp.kept_blocks:
        if b.kind is BlockKind.UNIFIED and b.magnitude > mag_max:
            raise FitError(f"{where}: block ({b.brow}, {b.bcol})'s magnitude {b.magnitude} "
                           f"is wider than the word's {cap.mag_bits}-bit field")
        if b.kind is BlockKind.DENSE and any(abs(c) > w_max for row in b.coeffs for c in row):
            raise FitError(f"{where}: block ({b.brow}, {b.bcol}) has a weight wider than "
                           f"the word's {cap.w_bits}-bit field")
    lim = 1 << (cap.bias_bits - 1)
    for r in lp.rows:
        if not -lim <= r.bias < lim:
            raise FitError(f"{where}: row {r.index}'s bias {r.bias} is wider than the word's "
                           f"{cap.bias_bits}-bit field")
    assignment, words = _assign(lp, cap.pes)
    busiest = max(len(w) for w in words)
    if busiest > cap.depth:
        raise FitError(f"{where}: the busiest of {cap.pes} PEs needs {busiest} words, more "
                       f"than the ROM depth {cap.depth}; generate a design with "
                       "--rom-depth or more --pes")
    return _datapath(lp, cap, assignment, words)


def fit(plan: DesignPlan, capacities: Sequence[LayerCapacity]) -> FoldedSchedule:
    """Schedule ``plan`` into an existing folded design's capacity (re-balanced for it), or
    raise FitError naming what does not fit."""
    matrix = [lp for lp in plan.layers if lp.kind in MATRIX_KINDS]
    if len(capacities) != len(matrix):
        raise FitError(f"the artifact has {len(matrix)} dense/conv layers, the design "
                       f"{len(capacities)}; generate a design for this artifact")
    # a CNN's ROMs: its conv and dense layers (the pooling/flatten stages have none)
    return FoldedSchedule(plan, tuple(_fit_layer(lp, cap)
                                      for lp, cap in zip(matrix, capacities)))
