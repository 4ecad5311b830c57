"""The contract every layer kind answers (the way each FINN op answers estimate / execute /
generate): JSON to/from with validation, golden integer execution from the reference
numerics' primitives, and its neutral numeric plan (value ranges, widths and costs).
Architectures schedule that plan; backends render the schedule.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..fixedpoint import QType
from ..layerplan import LayerPlan

Shape = tuple[int, ...]  # (features,) for vectors; (C, H, W) for feature maps


class LayerKind(ABC):
    """One layer of the IR. Subclasses are frozen dataclasses."""

    kind: ClassVar[str]
    name: str
    output: QType

    @property
    @abstractmethod
    def in_shape(self) -> Shape:
        """The tensor shape this layer takes."""

    @property
    @abstractmethod
    def out_shape(self) -> Shape:
        """The tensor shape this layer produces."""

    @classmethod
    @abstractmethod
    def from_json(cls, obj: Any, index: int, in_shape: Shape) -> "LayerKind":
        """Parse the artifact's layer object; ArtifactError names the field and the fix."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The artifact's layer object (deterministic)."""

    @abstractmethod
    def validate(self, index: int, in_shape: Shape, in_q: QType) -> None:
        """Check every invariant the generator relies on, given what enters the layer."""

    @abstractmethod
    def execute(self, x: np.ndarray, in_q: QType) -> np.ndarray:
        """The golden integer output for a batch ``x`` of integer inputs."""

    @abstractmethod
    def plan(self, index: int, in_q: QType) -> LayerPlan:
        """The neutral numeric plan: widths, shifts, clamps, kept blocks and costs."""
