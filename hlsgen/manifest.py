"""The design manifest (``design.json``): what a generated design is, for the executors,
the report and synthesis. One typed record, written by a backend and read back the same
way by everyone who uses the design."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "design.json"
OPTIONAL = ("folded", "roms")  # written only when not empty
DEFAULTED: dict[str, object] = {"in_beats": 1, "structure": ""}  # written when not the default


class ManifestError(ValueError):
    """A design folder without a readable manifest. The message names the fix."""


@dataclass(frozen=True)
class LayerCapacity:
    """What a folded layer's RTL fixes at generation, and so which ROM contents it can run:
    ``pes`` PEs walking ``depth`` words of ``pe_width`` bits each (the ROM image ``rom``,
    ``depth`` words of ``pes * pe_width`` bits, PE 0 in the least significant bits), the
    word's field widths, and the numeric constants built into the datapath."""

    index: int
    name: str
    rom: str            # the ROM image's name (file stem under the design's rom/)
    pes: int
    depth: int
    pe_width: int
    block_rows: int
    block_cols: int
    in_features: int
    out_features: int
    in_bits: int
    in_signed: bool
    out_bits: int
    out_signed: bool
    mag_bits: int       # unified magnitude field
    w_bits: int         # dense weight field (0: the PEs have no dense datapath)
    bias_bits: int
    shift: int
    relu: bool

    @classmethod
    def from_doc(cls, doc: Any, source: str) -> "LayerCapacity":
        if not isinstance(doc, dict):
            raise ManifestError(f"{source}: a folded layer entry is not an object; "
                                "regenerate the design")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = doc.get(f.name)
            expected = {"str": str, "int": int, "bool": bool}[str(f.type)]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ManifestError(f"{source}: folded layer field {f.name!r} should be "
                                    f"{expected.__name__}, got {value!r}; regenerate the design")
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class DesignManifest:
    """Top module, stream ports and widths, timing, files and provenance of a design."""

    generator: str
    artifact_sha256: str
    arch: str
    backend: str
    name: str
    top: str
    sources: tuple[str, ...]  # relative to the design folder
    in_features: int
    in_bits: int
    in_signed: bool
    out_features: int
    out_bits: int
    out_signed: bool
    latency: int              # cycles from an input's first accepted beat to its output (no stalls)
    initiation_interval: int  # cycles between accepted inputs at full rate
    # folded designs: each layer's ROM capacity, and the ROM files (relative to the design
    # folder) the RTL loads with $readmemh (empty for other architectures)
    folded: tuple[LayerCapacity, ...] = ()
    roms: tuple[str, ...] = ()
    # AXI4-Stream input beats per input vector (1: the whole vector in one beat). With
    # ``in_beats = B > 1`` (a streaming CNN: B = H*W pixels in raster order), beat ``p`` of a
    # vector carries its features ``c*B + p`` for ``c = 0 .. in_features/B - 1``, feature
    # ``c`` at bits ``[c*in_bits, (c+1)*in_bits)``, and ``tlast`` goes on a vector's last beat.
    # The output is always one beat per vector.
    in_beats: int = 1
    # folded designs: the plan's structure digest (DesignPlan.structure_digest: layer kinds,
    # sizes, feature-map geometry), what new ROM contents must share (``hlsgen rom --fit``)
    structure: str = ""

    @property
    def in_beat_features(self) -> int:
        """Features in one input beat."""
        return self.in_features // self.in_beats

    def to_json(self) -> str:
        doc = dataclasses.asdict(self)
        doc["sources"] = list(self.sources)
        for name in OPTIONAL:
            if not doc[name]:
                del doc[name]       # absent when empty: other architectures' manifests
            else:
                doc[name] = list(doc[name])
        for name, default in DEFAULTED.items():
            if doc[name] == default:
                del doc[name]       # absent when the default: one-beat designs' manifests
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = MANIFEST) -> "DesignManifest":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{source}: not valid JSON ({exc}); regenerate the design with "
                                "`hlsgen generate`") from None
        if not isinstance(doc, dict):
            raise ManifestError(f"{source}: expected a JSON object; regenerate the design")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in OPTIONAL:
                value = doc.get(f.name, [])
                if not isinstance(value, list):
                    raise ManifestError(f"{source}: field {f.name!r} should be a list; "
                                        "regenerate the design")
                if f.name == "folded":
                    values[f.name] = tuple(LayerCapacity.from_doc(v, source) for v in value)
                elif not all(isinstance(v, str) for v in value):
                    raise ManifestError(f"{source}: field {f.name!r} should list file names; "
                                        "regenerate the design")
                else:
                    values[f.name] = tuple(value)
                continue
            if f.name in DEFAULTED and f.name not in doc:
                values[f.name] = DEFAULTED[f.name]
                continue
            if f.name not in doc:
                raise ManifestError(f"{source}: missing field {f.name!r} (made by another "
                                    "hlsgen version?); regenerate the design with "
                                    "`hlsgen generate`")
            value = doc[f.name]
            expected = {"str": str, "int": int, "bool": bool}.get(str(f.type), list)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ManifestError(f"{source}: field {f.name!r} should be "
                                    f"{expected.__name__}, got {value!r}; regenerate the design")
            values[f.name] = tuple(value) if f.name == "sources" else value
        beats = values["in_beats"]
        if beats < 1 or values["in_features"] % beats:
            raise ManifestError(f"{source}: in_beats {beats} does not divide in_features "
                                f"{values['in_features']}; regenerate the design")
        return cls(**values)

    @classmethod
    def load(cls, design_dir: Path) -> "DesignManifest":
        path = Path(design_dir) / MANIFEST
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            raise ManifestError(f"{design_dir} holds no {MANIFEST}; regenerate it with "
                                f"`hlsgen generate ARTIFACT --out {design_dir}`") from None
        return cls.from_json(text, str(path))
