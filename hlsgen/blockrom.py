"""Weight ROM contents: the kept blocks of every layer as fixed-width words, in the order
the folded architecture's PEs walk them (``hlsgen/schedules/folded.py``).

Per layer three ROMs (word layouts are also in each image's JSON sidecar):

``l<i>_<name>_blocks`` — the walk ROM the folded RTL loads (``$readmemh``): ``depth`` words,
each holding one word per PE, PE 0 in the least significant bits (``P * W`` bits). Word ``k``
of PE ``p`` is the ``k``-th block that PE walks; its block rows were dealt to PEs by the
schedule's load balancing (LPT), each block row's kept blocks in column order; a block row
with every block pruned is one bias-only word; a PE with fewer words than ``depth`` is padded
with all-zero words (``valid`` 0). A PE word, fields LSB first:

    payload  [PW-1:0]  UNIFIED: magnitude in bits [mag_bits-1:0], then one sign bit per
                       weight (1 = negative), row-major over the full ``br x bc`` block
                       (``w_bits`` 1, binary: ``mag_bits`` is 1 and the magnitude 1);
                       DENSE: every weight as a ``w_bits`` two's-complement field, row-major;
                       edge-block positions outside the matrix hold 0 (sign 0 / weight 0);
                       a bias-only word holds 0 (a unified block of magnitude 0)
    kind     1         0 = unified, 1 = dense
    valid    1         0 = padding (the PE does nothing this clock)
    first    1         first word of its block row: the accumulators start at bias + rounding
    last     1         last word of its block row: the rows are requantized and written out
    bcol     ..        block column (selects the inputs; ceil(log2(block columns)) bits, >= 1)
    brow     ..        block row (the output slot: the permutation is undone here)
    bias     br * B    the block row's biases at accumulator scale, two's complement, local
                       row 0 lowest; on ``first`` words only (0 elsewhere)

``PW = max(mag_bits + br*bc, br*bc*w_bits)`` (``w_bits`` 0 when the layer's PEs have no dense
datapath); ``mag_bits``, ``w_bits``, ``B`` (bias bits), ``P`` and ``depth`` are the design's
ROM capacity (``design.json``'s ``folded`` entries): another artifact of the same layer shapes
is written into the same capacity by ``hlsgen rom --fit DESIGN``.

``l<i>_<name>_kinds`` — one word per block row, 2 bits per block (0 pruned, 1 unified, 2
dense), block column 0 in the least significant bits (the block-kind map, for other tools).

``l<i>_<name>_bias``  — one word per output, the bias at accumulator scale, two's complement
(for other tools; the walk ROM carries the same biases).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .blocks import BlockKind, BlockPlan, block_grid
from .layerplan import LayerPlan
from .manifest import LayerCapacity
from .numerics import signed_width
from .rom import ROM_FORMATS, RomField, RomImage, pack_fields, rom_files, to_twos, unpack_fields

if TYPE_CHECKING:  # the schedule imports this module's word layout
    from .schedules.folded import FoldedLayer, FoldedSchedule, PeWord


def _bits_for(count: int) -> int:
    return max(1, (count - 1).bit_length())


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


def pe_word_width(br: int, bc: int, nbr: int, nbc: int, mag_bits: int, w_bits: int,
                  bias_bits: int) -> int:
    """Bits of one PE word for a capacity (see the module docstring)."""
    return sum(f.width for f in _pe_fields(br, bc, nbr, nbc, mag_bits, w_bits, bias_bits))


def _pe_fields(br: int, bc: int, nbr: int, nbc: int, mag_bits: int, w_bits: int,
               bias_bits: int) -> tuple[RomField, ...]:
    size = br * bc
    payload = max(mag_bits + size, size * w_bits)
    widths = [("payload", payload, "unified: magnitude, then sign bits (1 = negative); "
               "dense: two's-complement weights; row-major, LSB first"),
              ("kind", 1, "0 = unified, 1 = dense"),
              ("valid", 1, "0 = padding word"),
              ("first", 1, "first word of its block row (accumulators start at the bias)"),
              ("last", 1, "last word of its block row (rows written out)"),
              ("bcol", _bits_for(nbc), "block column"),
              ("brow", _bits_for(nbr), "block row (output slot)"),
              ("bias", br * bias_bits, "the block row's biases, two's complement, "
               "local row 0 lowest (first words only)")]
    fields, lsb = [], 0
    for name, width, text in widths:
        fields.append(RomField(name, lsb, width, text))
        lsb += width
    return tuple(fields)


def pe_layout(cap: LayerCapacity) -> tuple[RomField, ...]:
    """The fields of one PE word of a folded layer's capacity."""
    nbr, nbc = block_grid(cap.out_features, cap.in_features, (cap.block_rows, cap.block_cols))
    return _pe_fields(cap.block_rows, cap.block_cols, nbr, nbc, cap.mag_bits, cap.w_bits,
                      cap.bias_bits)


def _payload(blk: BlockPlan, cap: LayerCapacity) -> int:
    br, bc = cap.block_rows, cap.block_cols
    r0, c0 = blk.brow * br, blk.bcol * bc
    word = 0
    if blk.kind is BlockKind.UNIFIED:
        word = blk.magnitude
        for r, row in zip(blk.rows, blk.coeffs):
            for c, v in zip(blk.cols, row):
                word |= (1 if v < 0 else 0) << (cap.mag_bits + (r - r0) * bc + (c - c0))
        return word
    for r, row in zip(blk.rows, blk.coeffs):
        for c, v in zip(blk.cols, row):
            word |= to_twos(v, cap.w_bits) << (((r - r0) * bc + (c - c0)) * cap.w_bits)
    return word


def pe_word(word: PeWord, cap: LayerCapacity, layout: tuple[RomField, ...]) -> int:
    """One PE word packed by the documented layout."""
    blk = word.block
    bias = 0
    for r, b in enumerate(word.bias):
        bias |= to_twos(b, cap.bias_bits) << (r * cap.bias_bits)
    return pack_fields({
        "payload": 0 if blk is None else _payload(blk, cap),
        "kind": int(blk is not None and blk.kind is BlockKind.DENSE),
        "valid": 1, "first": int(word.first), "last": int(word.last),
        "bcol": 0 if blk is None else blk.bcol, "brow": word.brow, "bias": bias}, layout)


def walk_rom(layer: FoldedLayer) -> RomImage:
    """A folded layer's walk ROM: ``depth`` words, PE 0 in the least significant bits."""
    cap = layer.capacity
    fields = pe_layout(cap)
    w = cap.pe_width
    words = [0] * cap.depth
    for p, pe_words in enumerate(layer.words):
        for k, word in enumerate(pe_words):
            words[k] |= pe_word(word, cap, fields) << (p * w)
    layout = tuple(RomField(f"pe{p}_{f.name}", p * w + f.lsb, f.width, f.description)
                   for p in range(cap.pes) for f in fields)
    return RomImage(cap.rom, cap.pes * w, tuple(words), layout)


def unpack_walk(words: tuple[int, ...], cap: LayerCapacity) -> list[list[dict[str, int]]]:
    """Per PE, the fields of every word of a walk ROM (the inverse of :func:`walk_rom`)."""
    fields = pe_layout(cap)
    mask = (1 << cap.pe_width) - 1
    return [[unpack_fields((word >> (p * cap.pe_width)) & mask, fields) for word in words]
            for p in range(cap.pes)]


def kind_rom(layer: LayerPlan, prefix: str) -> RomImage:
    """The block-kind map: one word per block row, 2 bits per block."""
    kinds_rows = layer_kind_rows(layer)
    nbc = len(kinds_rows[0])
    layout = tuple(RomField(f"b{c}", 2 * c, 2, "0 pruned, 1 unified, 2 dense")
                   for c in range(nbc))
    words = tuple(pack_fields({f"b{c}": k for c, k in enumerate(row)}, layout)
                  for row in kinds_rows)
    return RomImage(f"{prefix}_kinds", 2 * nbc, words, layout)


def bias_rom(layer: LayerPlan, prefix: str) -> RomImage:
    """Biases at accumulator scale, two's complement."""
    width = max(signed_width(min(r.bias for r in layer.rows), max(r.bias for r in layer.rows)), 2)
    layout = (RomField("bias", 0, width, "bias at accumulator scale, two's complement"),)
    return RomImage(f"{prefix}_bias", width, tuple(to_twos(r.bias, width) for r in layer.rows),
                    layout)


def layer_kind_rows(layer: LayerPlan) -> list[list[int]]:
    """The block-kind grid of a planned layer (pruned where no PE exists)."""
    nbr, nbc = block_grid(layer.out_features, layer.in_features, layer.block)
    grid = [[int(BlockKind.PRUNED)] * nbc for _ in range(nbr)]
    for pe in layer.kept_blocks:
        grid[pe.brow][pe.bcol] = int(pe.kind)
    return grid


def design_roms(schedule: FoldedSchedule) -> list[RomImage]:
    """Every ROM image of a folded schedule, layer by layer: the walk ROM the RTL loads,
    the block-kind map and the biases."""
    images = []
    for layer in schedule.folded_layers:
        prefix = f"l{layer.plan.index}_{_safe(layer.plan.name)}"
        images.append(walk_rom(layer))
        images.append(kind_rom(layer.plan, prefix))
        images.append(bias_rom(layer.plan, prefix))
    return images


def rom_tree(schedule: FoldedSchedule, formats: tuple[str, ...] = ROM_FORMATS
             ) -> dict[str, str]:
    """File name -> text of every ROM image of the schedule in each format (and the JSON
    sidecars): what ``hlsgen rom`` writes, and what a folded design folder's ``rom/`` holds."""
    files: dict[str, str] = {}
    for img in design_roms(schedule):
        files.update(rom_files(img, formats, header=schedule.plan.provenance()))
    return files
