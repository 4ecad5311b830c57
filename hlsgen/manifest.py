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


class ManifestError(ValueError):
    """A design folder without a readable manifest. The message names the fix."""


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
    latency: int              # cycles from an accepted input to its output (no stalls)
    initiation_interval: int  # cycles between accepted inputs at full rate

    def to_json(self) -> str:
        doc = dataclasses.asdict(self)
        doc["sources"] = list(self.sources)
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
