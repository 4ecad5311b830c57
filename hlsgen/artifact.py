"""The compressed-network artifact: the only thing that crosses from `compression/` to `hlsgen/`.

On disk it is one JSON document (no pickle, nothing executable on load):

    {"format": "hlsgen.artifact", "schema_version": 1, "sha256": "<hex>", "network": {...}}

`sha256` is the hash of the canonical JSON of `network` (sorted keys, no whitespace); it
catches truncation and tampering, and its prefix names the artifact in generated files.

The network is a list of typed layers (only ``"dense"`` today; conv layers will be added as
new types). Each dense layer stores its weight matrix ``[out, in]`` by blocks of shape
``(br, bc)`` (edge blocks are smaller when a size is not a multiple of the block shape):

* ``block_kinds``: one string per block row, one character per block: ``P`` pruned,
  ``U`` unified, ``D`` dense;
* ``unified``: for the unified blocks in row-major block order, ``magnitudes`` (one integer
  ``m >= 1`` each) and ``signs`` (one string of ``+``/``-`` per block, row-major inside it);
* ``dense``: for the dense blocks in row-major block order, their integer weights, row-major.

Integers are fixed point: a value ``v`` with ``frac`` fractional bits means ``v * 2**-frac``.
Weights are symmetric ``w_bits`` integers in ``[-(2**(w_bits-1)-1), 2**(w_bits-1)-1]``.
The bias is at accumulator scale (``frac = in.frac + w_frac``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .output import atomic_write_text

FORMAT = "hlsgen.artifact"
SCHEMA_VERSION = 1
MAX_BITS = 16  # widest activation or weight the generator accepts


class ArtifactError(ValueError):
    """A malformed, corrupt, tampered or unsupported artifact. The message names the fix."""


class BlockKind(enum.IntEnum):
    """What a block of a weight matrix is; also its 2-bit code in the block-kind map."""

    PRUNED = 0
    UNIFIED = 1
    DENSE = 2

    @property
    def letter(self) -> str:
        return "PUD"[self.value]

    @classmethod
    def from_letter(cls, letter: str) -> "BlockKind":
        return cls("PUD".index(letter))


@dataclass(frozen=True)
class QType:
    """A fixed-point integer type: ``bits`` wide, ``frac`` fractional bits, signed or not."""

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


def block_grid(rows: int, cols: int, block: tuple[int, int]) -> tuple[int, int]:
    """Number of block rows and block columns tiling a ``rows x cols`` matrix."""
    return math.ceil(rows / block[0]), math.ceil(cols / block[1])


def block_slices(brow: int, bcol: int, rows: int, cols: int,
                 block: tuple[int, int]) -> tuple[slice, slice]:
    """The row and column slices of block ``(brow, bcol)``; edge blocks are clipped."""
    br, bc = block
    return (slice(brow * br, min(rows, (brow + 1) * br)),
            slice(bcol * bc, min(cols, (bcol + 1) * bc)))


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """A fully connected layer ``y = requant(W x + b)`` with micro-structured integer weights."""

    name: str
    in_features: int
    out_features: int
    block: tuple[int, int]
    kinds: np.ndarray        # uint8 [n_block_rows, n_block_cols] of BlockKind values
    weight: np.ndarray       # int64 [out_features, in_features], consistent with kinds
    bias: np.ndarray         # int64 [out_features], at accumulator scale
    w_bits: int
    w_frac: int
    output: QType
    relu: bool
    type: str = field(default="dense", init=False)

    @property
    def w_max(self) -> int:
        return (1 << (self.w_bits - 1)) - 1


Layer = DenseLayer  # the union of layer types grows here (conv2d, pool, ...)


@dataclass(frozen=True, eq=False)
class Network:
    """A compressed network: an input type and a list of typed layers."""

    name: str
    input_features: int
    input: QType
    layers: tuple[Layer, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> QType:
        return self.layers[-1].output

    @property
    def output_features(self) -> int:
        return self.layers[-1].out_features

    def layer_input(self, index: int) -> QType:
        """The activation type entering layer ``index``."""
        return self.input if index == 0 else self.layers[index - 1].output


# ----------------------------------------------------------------------------- validation

def _fail(where: str, problem: str, fix: str = "regenerate the artifact with `hlsgen compress`") -> None:
    raise ArtifactError(f"{where}: {problem} ({fix})")


def _check_int(where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"expected an integer, got {value!r}")
    if not lo <= value <= hi:
        _fail(where, f"value {value} is outside [{lo}, {hi}]")
    return value


def _check_qtype(where: str, q: QType) -> None:
    _check_int(f"{where}.bits", q.bits, 2, MAX_BITS)
    _check_int(f"{where}.frac", q.frac, -32, 32)
    if not isinstance(q.signed, bool):
        _fail(f"{where}.signed", f"expected true/false, got {q.signed!r}")


NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_. \-]{0,63}")


def _check_name(where: str, name: object) -> None:
    # names end up in file names, HDL identifiers and comments: keep them plain
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        _fail(where, f"name {name!r} must be 1-64 characters of letters, digits, spaces, '_', '.' "
              "or '-'", "rename it in the model or the artifact")


def validate(net: Network) -> None:
    """Check every invariant the generator relies on; raise ArtifactError naming the first break."""
    _check_name("network", net.name)
    if not net.layers:
        _fail(net.name, "the network has no layers")
    _check_qtype("input", net.input)
    _check_int("input.features", net.input_features, 1, 1 << 16)
    prev_features = net.input_features
    for i, layer in enumerate(net.layers):
        where = f"layer {i} ({layer.name!r})"
        _check_name(f"layer {i}", layer.name)
        if layer.type != "dense":
            _fail(where, f"unsupported layer type {layer.type!r}; supported: 'dense'",
                  "export the model with only Linear/ReLU layers")
        if layer.in_features != prev_features:
            _fail(where, f"in_features {layer.in_features} does not match the previous "
                  f"layer's {prev_features} outputs")
        _check_int(f"{where}.out_features", layer.out_features, 1, 1 << 16)
        _check_int(f"{where}.w_bits", layer.w_bits, 2, MAX_BITS)
        _check_int(f"{where}.w_frac", layer.w_frac, -32, 32)
        _check_qtype(f"{where}.output", layer.output)
        br, bc = layer.block
        _check_int(f"{where}.block rows", br, 1, 1 << 16)
        _check_int(f"{where}.block cols", bc, 1, 1 << 16)
        in_q = net.layer_input(i)
        shift = in_q.frac + layer.w_frac - layer.output.frac
        if shift < 0:
            _fail(where, f"output frac {layer.output.frac} exceeds accumulator frac "
                  f"{in_q.frac + layer.w_frac} (negative requantize shift)")
        nbr, nbc = block_grid(layer.out_features, layer.in_features, layer.block)
        if layer.kinds.shape != (nbr, nbc):
            _fail(where, f"block-kind map is {layer.kinds.shape}, expected {(nbr, nbc)}")
        if layer.weight.shape != (layer.out_features, layer.in_features):
            _fail(where, f"weight shape {layer.weight.shape} != "
                  f"{(layer.out_features, layer.in_features)}")
        if layer.bias.shape != (layer.out_features,):
            _fail(where, f"bias has {layer.bias.shape} entries, expected {layer.out_features}")
        if np.abs(layer.weight).max(initial=0) > layer.w_max:
            _fail(where, f"a weight magnitude exceeds {layer.w_max}, the {layer.w_bits}-bit limit")
        if np.abs(layer.bias).max(initial=0) >= 1 << 48:
            _fail(where, "a bias exceeds 48 bits; the accumulator scale is implausible")
        for brow in range(nbr):
            for bcol in range(nbc):
                rs, cs = block_slices(brow, bcol, layer.out_features, layer.in_features,
                                      layer.block)
                w = layer.weight[rs, cs]
                kind = BlockKind(int(layer.kinds[brow, bcol]))
                bw = f"{where} block ({brow}, {bcol})"
                if kind is BlockKind.PRUNED and np.any(w != 0):
                    _fail(bw, "is marked pruned but holds nonzero weights")
                if kind is BlockKind.UNIFIED:
                    mags = np.unique(np.abs(w))
                    if len(mags) != 1 or mags[0] == 0:
                        _fail(bw, "is marked unified but its weights do not share one "
                              "nonzero magnitude")
        prev_features = layer.out_features


# ----------------------------------------------------------------------------- (de)serialize

def _layer_to_json(layer: DenseLayer) -> dict[str, Any]:
    nbr, nbc = layer.kinds.shape
    mags: list[int] = []
    signs: list[str] = []
    dense: list[list[int]] = []
    for brow in range(nbr):
        for bcol in range(nbc):
            rs, cs = block_slices(brow, bcol, layer.out_features, layer.in_features, layer.block)
            w = layer.weight[rs, cs].ravel()
            kind = BlockKind(int(layer.kinds[brow, bcol]))
            if kind is BlockKind.UNIFIED:
                mags.append(int(abs(w[0])))
                signs.append("".join("-" if v < 0 else "+" for v in w))
            elif kind is BlockKind.DENSE:
                dense.append([int(v) for v in w])
    return {
        "type": "dense",
        "name": layer.name,
        "in_features": layer.in_features,
        "out_features": layer.out_features,
        "block": list(layer.block),
        "w_bits": layer.w_bits,
        "w_frac": layer.w_frac,
        "relu": layer.relu,
        "output": layer.output.to_json(),
        "bias": [int(b) for b in layer.bias],
        "block_kinds": ["".join(BlockKind(int(k)).letter for k in row) for row in layer.kinds],
        "unified": {"magnitudes": mags, "signs": signs},
        "dense": dense,
    }


def network_to_json(net: Network) -> dict[str, Any]:
    """The JSON-ready ``network`` object of the artifact (validates first)."""
    validate(net)
    return {
        "name": net.name,
        "input": {"features": net.input_features, **net.input.to_json()},
        "layers": [_layer_to_json(layer) for layer in net.layers],
        "meta": dict(net.meta),
    }


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        _fail(where, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        _fail(f"{where}.{key}", f"expected {names}, got {type(value).__name__}")
    return value


def _qtype_from_json(obj: Any, where: str) -> QType:
    return QType(bits=_get(obj, "bits", int, where), frac=_get(obj, "frac", int, where),
                 signed=_get(obj, "signed", bool, where))


def _layer_from_json(obj: Any, index: int) -> DenseLayer:
    where = f"layer {index}"
    ltype = _get(obj, "type", str, where)
    if ltype != "dense":
        _fail(where, f"unsupported layer type {ltype!r}; this hlsgen supports 'dense'",
              "upgrade hlsgen or export only Linear/ReLU layers")
    name = _get(obj, "name", str, where)
    where = f"layer {index} ({name!r})"
    n_in = _check_int(f"{where}.in_features", _get(obj, "in_features", int, where), 1, 1 << 16)
    n_out = _check_int(f"{where}.out_features", _get(obj, "out_features", int, where), 1, 1 << 16)
    block = _get(obj, "block", list, where)
    if len(block) != 2 or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1
                                  for b in block):
        _fail(f"{where}.block", f"expected two positive integers, got {block!r}")
    block_t = (block[0], block[1])
    nbr, nbc = block_grid(n_out, n_in, block_t)
    rows = _get(obj, "block_kinds", list, where)
    if len(rows) != nbr or any(not isinstance(r, str) or len(r) != nbc for r in rows):
        _fail(f"{where}.block_kinds", f"expected {nbr} strings of {nbc} characters")
    if any(ch not in "PUD" for r in rows for ch in r):
        _fail(f"{where}.block_kinds", "block kinds must be the letters P, U or D")
    kinds = np.array([[BlockKind.from_letter(ch) for ch in r] for r in rows], dtype=np.uint8)
    w_bits = _check_int(f"{where}.w_bits", _get(obj, "w_bits", int, where), 2, MAX_BITS)
    w_max = (1 << (w_bits - 1)) - 1
    unified = _get(obj, "unified", dict, where)
    mags = _get(unified, "magnitudes", list, f"{where}.unified")
    signs = _get(unified, "signs", list, f"{where}.unified")
    dense = _get(obj, "dense", list, where)
    n_unified = int(np.sum(kinds == BlockKind.UNIFIED))
    n_dense = int(np.sum(kinds == BlockKind.DENSE))
    if len(mags) != n_unified or len(signs) != n_unified:
        _fail(f"{where}.unified", f"{len(mags)} magnitudes and {len(signs)} sign strings "
              f"for {n_unified} unified blocks")
    if len(dense) != n_dense:
        _fail(f"{where}.dense", f"{len(dense)} weight lists for {n_dense} dense blocks")
    weight = np.zeros((n_out, n_in), dtype=np.int64)
    iu = idn = 0
    for brow in range(nbr):
        for bcol in range(nbc):
            rs, cs = block_slices(brow, bcol, n_out, n_in, block_t)
            shape = (rs.stop - rs.start, cs.stop - cs.start)
            size = shape[0] * shape[1]
            bw = f"{where} block ({brow}, {bcol})"
            kind = BlockKind(int(kinds[brow, bcol]))
            if kind is BlockKind.UNIFIED:
                m = _check_int(f"{bw} magnitude", mags[iu], 1, w_max)
                s = signs[iu]
                if not isinstance(s, str) or len(s) != size or set(s) - {"+", "-"}:
                    _fail(f"{bw} signs", f"expected {size} characters of '+'/'-'")
                weight[rs, cs] = np.array([m if c == "+" else -m for c in s]).reshape(shape)
                iu += 1
            elif kind is BlockKind.DENSE:
                vals = dense[idn]
                if not isinstance(vals, list) or len(vals) != size:
                    _fail(f"{bw} weights", f"expected a list of {size} integers")
                for v in vals:
                    _check_int(f"{bw} weight", v, -w_max, w_max)
                weight[rs, cs] = np.array(vals, dtype=np.int64).reshape(shape)
                idn += 1
    bias = _get(obj, "bias", list, where)
    if len(bias) != n_out:
        _fail(f"{where}.bias", f"{len(bias)} entries for {n_out} outputs")
    for b in bias:
        _check_int(f"{where}.bias", b, -(1 << 48), 1 << 48)
    return DenseLayer(
        name=name, in_features=n_in, out_features=n_out, block=block_t, kinds=kinds,
        weight=weight, bias=np.array(bias, dtype=np.int64), w_bits=w_bits,
        w_frac=_get(obj, "w_frac", int, where),
        output=_qtype_from_json(_get(obj, "output", dict, where), f"{where}.output"),
        relu=_get(obj, "relu", bool, where),
    )


def network_from_json(obj: Any) -> Network:
    """Build and validate a Network from the artifact's ``network`` object."""
    inp = _get(obj, "input", dict, "network")
    layers = _get(obj, "layers", list, "network")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        _fail("network.meta", "expected an object")
    net = Network(
        name=_get(obj, "name", str, "network"),
        input_features=_get(inp, "features", int, "network.input"),
        input=_qtype_from_json(inp, "network.input"),
        layers=tuple(_layer_from_json(layer, i) for i, layer in enumerate(layers)),
        meta=meta,
    )
    validate(net)
    return net


def dumps(net: Network) -> str:
    """Serialize a network to artifact text (deterministic: same network, same bytes)."""
    body = network_to_json(net)
    digest = hashlib.sha256(_canonical(body)).hexdigest()
    doc = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "sha256": digest, "network": body}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


def loads(text: str | bytes, source: str = "<artifact>") -> Network:
    """Parse artifact text; raise ArtifactError on any truncation, tampering or version skew."""
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{source}: not a valid artifact (truncated or corrupt JSON: {exc}); "
                            "regenerate it with `hlsgen compress`") from None
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(f"{source}: not an hlsgen artifact (missing format {FORMAT!r}); "
                            "pass a file written by `hlsgen compress` or "
                            "`hlsgen.artifact.save`")
    version = doc.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ArtifactError(f"{source}: artifact schema version {version!r} is not supported by "
                            f"this hlsgen (expects {SCHEMA_VERSION}); regenerate the artifact "
                            "or use a matching hlsgen")
    body = doc.get("network")
    digest = hashlib.sha256(_canonical(body)).hexdigest()
    if doc.get("sha256") != digest:
        raise ArtifactError(f"{source}: checksum mismatch (the file was edited or corrupted); "
                            "regenerate it with `hlsgen compress`, or after a deliberate edit "
                            "re-save it with `hlsgen.artifact.save`")
    try:
        return network_from_json(body)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}") from None


def _reject_constant(name: str) -> None:
    raise ArtifactError(f"artifact holds {name}, which is not a number (artifacts hold only "
                        "finite numbers); regenerate it with `hlsgen compress`, or after a "
                        f"deliberate edit replace {name} by a finite number and re-save it "
                        "with `hlsgen.artifact.save`")


def digest(net: Network) -> str:
    """The artifact hash that generated files name as their source."""
    return hashlib.sha256(_canonical(network_to_json(net))).hexdigest()


def save(net: Network, path: str | os.PathLike[str]) -> Path:
    """Write the artifact atomically."""
    p = Path(path)
    atomic_write_text(p, dumps(net))
    return p


def load(path: str | os.PathLike[str]) -> Network:
    """Read and validate an artifact file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{p}: no such artifact; create one with `hlsgen compress --out {p}`") \
            from None
    except OSError as exc:
        raise ArtifactError(f"{p}: cannot read the artifact ({exc.strerror or exc}); pass a "
                            "readable artifact file") from None
    return loads(data, source=str(p))
