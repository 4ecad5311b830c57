"""Weight ROM contents: the kept blocks of every layer as fixed-width words.

Per layer three ROMs (word layouts are also in each image's JSON sidecar):

``<layer>_blocks`` — one word per kept block, row-major over the block grid, fields LSB first:

    payload  [P-1:0]   UNIFIED: magnitude in bits [w_bits-2:0], then one sign bit per weight
                       (1 = negative), row-major inside the block (w_bits 1: no magnitude
                       field, the magnitude is 1);
                       DENSE: every weight as a w_bits two's-complement field, row-major
    kind     [P]       0 = unified, 1 = dense
    last     [P+1]     1 on the last kept block of its block row
    bcol     [..]      block column (ceil(log2(block columns)) bits, at least 1)
    brow     [..]      block row

``<layer>_kinds`` — one word per block row, 2 bits per block (0 pruned, 1 unified, 2 dense),
block column 0 in the least significant bits.

``<layer>_bias``  — one word per output, the bias at accumulator scale, two's complement.

Edge blocks (when a size is not a multiple of the block shape) hold only their real weights.
These are the words a folded (ROM-driven) PE array walks, one block per clock.
"""

from __future__ import annotations

from .blocks import BlockKind, BlockPlan, block_grid
from .numerics import signed_width
from .layerplan import LayerPlan
from .plan import DesignPlan
from .rom import RomField, RomImage, pack_fields, to_twos


def _bits_for(count: int) -> int:
    return max(1, (count - 1).bit_length())


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


def _unified_payload(pe: BlockPlan, w_bits: int) -> int:
    word = pe.magnitude if w_bits > 1 else 0  # binary: the magnitude is 1 and not stored
    pos = w_bits - 1
    for row in pe.coeffs:
        for c in row:
            word |= (1 if c < 0 else 0) << pos
            pos += 1
    return word


def _dense_payload(pe: BlockPlan, w_bits: int) -> int:
    word = 0
    pos = 0
    for row in pe.coeffs:
        for c in row:
            word |= to_twos(c, w_bits) << pos
            pos += w_bits
    return word


def block_rom(layer: LayerPlan, prefix: str) -> RomImage | None:
    """The kept-block ROM of a layer, or None when every block is pruned."""
    if not layer.kept_blocks:
        return None
    nbr, nbc = block_grid(layer.out_features, layer.in_features, layer.block)
    size = layer.block[0] * layer.block[1]
    has = {pe.kind for pe in layer.kept_blocks}
    payload = max(((layer.w_bits - 1) + size) if BlockKind.UNIFIED in has else 1,
                  size * layer.w_bits if BlockKind.DENSE in has else 1)
    col_w, row_w = _bits_for(nbc), _bits_for(nbr)
    layout = (
        RomField("payload", 0, payload, "unified: magnitude, then sign bits (1 = negative); "
                 "dense: w_bits two's-complement weights; row-major, LSB first"),
        RomField("kind", payload, 1, "0 = unified, 1 = dense"),
        RomField("last", payload + 1, 1, "last kept block of its block row"),
        RomField("bcol", payload + 2, col_w, "block column"),
        RomField("brow", payload + 2 + col_w, row_w, "block row"),
    )
    words = []
    for i, pe in enumerate(layer.kept_blocks):
        last = i + 1 == len(layer.kept_blocks) or layer.kept_blocks[i + 1].brow != pe.brow
        data = (_unified_payload(pe, layer.w_bits) if pe.kind is BlockKind.UNIFIED
                else _dense_payload(pe, layer.w_bits))
        words.append(pack_fields({"payload": data, "kind": int(pe.kind is BlockKind.DENSE),
                                  "last": int(last), "bcol": pe.bcol, "brow": pe.brow}, layout))
    return RomImage(f"{prefix}_blocks", payload + 2 + col_w + row_w, tuple(words), layout)


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


def design_roms(plan: DesignPlan) -> list[RomImage]:
    """Every ROM image of a design, layer by layer."""
    images = []
    for layer in plan.layers:
        prefix = f"l{layer.index}_{_safe(layer.name)}"
        blocks = block_rom(layer, prefix)
        if blocks is not None:
            images.append(blocks)
        images.append(kind_rom(layer, prefix))
        images.append(bias_rom(layer, prefix))
    return images
