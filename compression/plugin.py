"""hlsgen's ``compress`` stage, registered under the ``hlsgen.compressors`` entry point
(``pyproject.toml``): the built-in digits MLP through ADMM (:mod:`compression.pipeline`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from hlsgen.network import Network

from .pipeline import CompressConfig, compress_digits


class DigitsCompressor:
    """Train, ADMM-compress and export the digits MLP."""

    def prepare(self, settings: Mapping[str, Any], progress: bool,
                say: Callable[[str], None]) -> Callable[[], Network]:
        config = dataclasses.replace(CompressConfig(), **settings)  # ValueError: bad setting

        def run() -> Network:
            say(f"compressing the digits MLP: {config}")
            result = compress_digits(config, progress=progress)
            say(f"float {result.float_accuracy:.4f}, compressed float "
                f"{result.compressed_float_accuracy:.4f}, integer {result.int_accuracy:.4f}")
            return dataclasses.replace(result.network, meta={
                **dict(result.network.meta),
                "float_accuracy": result.float_accuracy,
                "compressed_float_accuracy": result.compressed_float_accuracy,
            })

        return run
