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
        """``settings`` are :class:`CompressConfig` fields, plus ``checkpoint`` (a file to
        resume from and save to) and ``checkpoint_every`` (ADMM epochs between saves)."""
        settings = dict(settings)
        checkpoint = settings.pop("checkpoint", None)
        every = settings.pop("checkpoint_every", None)
        every = 10 if every is None else int(every)
        if every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {every}")
        config = dataclasses.replace(CompressConfig(), **settings)  # ValueError: bad setting

        def run() -> Network:
            say(f"compressing the digits MLP: {config}")
            result = compress_digits(config, progress=progress, checkpoint=checkpoint,
                                     checkpoint_every=every)
            say(f"float {result.float_accuracy:.4f}, compressed float "
                f"{result.compressed_float_accuracy:.4f}, integer {result.int_accuracy:.4f}")
            hist = result.network.meta.get("digits", {}).get("histogram", {})
            say("CSD digits per stored weight magnitude: " + (", ".join(
                f"{k} digit{'s' if k != '1' else ''}: {n}" for k, n in hist.items()) or "none"))
            return dataclasses.replace(result.network, meta={
                **dict(result.network.meta),
                "float_accuracy": result.float_accuracy,
                "compressed_float_accuracy": result.compressed_float_accuracy,
            })

        return run
