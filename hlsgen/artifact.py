"""The compressed-network artifact: the only thing that crosses from `compression/` to `hlsgen/`.

On disk it is one JSON document (no pickle, nothing executable on load):

    {"format": "hlsgen.artifact", "schema_version": 1, "sha256": "<hex>", "network": {...}}

`sha256` is the hash of the canonical JSON of `network` (sorted keys, no whitespace); it
catches truncation and tampering, and its prefix names the artifact in generated files.

The network is ``{"name", "input": {"features", "bits", "frac", "signed"}, "layers": [...],
"meta": {...}}`` and optionally ``"input_bits": [b0, b1, ...]`` (one width per input feature,
each in ``[0, input.bits]``: feature ``i`` keeps its low ``b_i`` bits, WRAP; 0 drops it; see
``hlsgen/numerics.py``; absent: every feature at ``input.bits``): a list of typed layers, each parsed by its kind's class in
``hlsgen/layers/`` (``dense.py`` documents the dense layer's fields). Integers are fixed
point: a value ``v`` with ``frac`` fractional bits means ``v * 2**-frac``.

This module is also the public face of the IR: it re-exports the types a user of an
artifact needs (``Network``, ``DenseLayer``, ``QType``, ``BlockKind``, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .blocks import BlockKind, block_grid, block_slices
from .fixedpoint import QType
from .layers import DenseLayer, Layer, layer_from_json
from .network import MAX_INPUT_FEATURES, Network, validate, validate_input_bits
from .output import atomic_write_text
from .validation import MAX_BITS, ArtifactError, check_int, fail, get, qtype_from_json

FORMAT = "hlsgen.artifact"
SCHEMA_VERSION = 1

__all__ = ["ArtifactError", "BlockKind", "DenseLayer", "FORMAT", "Layer", "MAX_BITS", "Network",
           "QType", "SCHEMA_VERSION", "block_grid", "block_slices", "digest", "dumps", "load",
           "loads", "network_from_json", "network_to_json", "save", "validate"]


def network_to_json(net: Network) -> dict[str, Any]:
    """The JSON-ready ``network`` object of the artifact (validates first)."""
    validate(net)
    body: dict[str, Any] = {
        "name": net.name,
        "input": {"features": net.input_features, **net.input.to_json()},
        "layers": [layer.to_json() for layer in net.layers],
        "meta": dict(net.meta),
    }
    if net.input_bits is not None:  # absent: every feature at input.bits (old artifacts)
        body["input_bits"] = [int(b) for b in net.input_bits]
    return body


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def network_from_json(obj: Any) -> Network:
    """Build and validate a Network from the artifact's ``network`` object."""
    inp = get(obj, "input", dict, "network")
    layers = get(obj, "layers", list, "network")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        fail("network.meta", "expected an object")
    in_features = check_int("network.input.features", get(inp, "features", int, "network.input"),
                            1, MAX_INPUT_FEATURES)
    input_q = qtype_from_json(inp, "network.input")
    parsed: list[Layer] = []
    shape: tuple[int, ...] = (in_features,)
    for i, layer in enumerate(layers):
        parsed.append(layer_from_json(layer, i, shape))
        shape = parsed[-1].out_shape
    input_bits = None
    if "input_bits" in obj:
        raw = obj["input_bits"]
        validate_input_bits(raw, in_features, input_q.bits,
                            parsed[0].kind if parsed else "dense")
        input_bits = tuple(raw)
    net = Network(name=get(obj, "name", str, "network"), input_features=in_features,
                  input=input_q, layers=tuple(parsed), meta=meta, input_bits=input_bits)
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
