"""hlsgen's ``compress`` stage, registered under the ``hlsgen.compressors`` entry point
(``pyproject.toml``): the built-in digits MLP through ADMM (:mod:`compression.pipeline`),
or, with ``model`` / ``data`` settings, the built-in digits CNN (``model="cnn"``) or the
user's model ``FILE.py:FACTORY`` on the user's ``.npz`` data (:mod:`compression.custom`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from hlsgen.network import Network

from .pipeline import CompressConfig, compress_digits

CONV_KEYS = {"conv_block": "block", "conv_prune": "prune", "conv_unify": "unify"}


class DigitsCompressor:
    """Train, ADMM-compress and export the digits MLP (or a CNN / the user's model)."""

    def prepare(self, settings: Mapping[str, Any], progress: bool,
                say: Callable[[str], None]) -> Callable[[], Network]:
        """``settings`` are :class:`CompressConfig` fields, plus ``checkpoint`` (a file to
        resume from and save to) and ``checkpoint_every`` (ADMM epochs between saves);
        ``model`` (``mlp``, ``cnn`` or ``FILE.py:FACTORY``), ``data`` (an ``.npz`` file) and
        ``conv_block``/``conv_prune``/``conv_unify`` select the model path."""
        settings = dict(settings)
        floor = {k: settings.pop(k) for k in ("min_accuracy", "floor_steps") if k in settings}
        model = settings.pop("model", None)
        data = settings.pop("data", None)
        conv = {CONV_KEYS[k]: settings.pop(k) for k in list(settings) if k in CONV_KEYS}
        if model not in (None, "mlp") or data is not None or conv:
            if floor:
                raise ValueError("min_accuracy / floor_steps are supported for the built-in "
                                 "digits MLP only")
            return self._custom(model or "mlp", data, conv, settings, progress, say)
        checkpoint = settings.pop("checkpoint", None)
        every = settings.pop("checkpoint_every", None)
        every = 10 if every is None else int(every)
        if every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {every}")
        config = dataclasses.replace(CompressConfig(), **settings)  # ValueError: bad setting
        if floor:
            return self._floor(config, floor, progress, say, checkpoint)

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

    @staticmethod
    def _floor(config: CompressConfig, floor: dict[str, Any], progress: bool,
               say: Callable[[str], None], checkpoint: Any) -> Callable[[], Network]:
        from hlsgen.datasets import load_digits_split

        from .floor import FloorConfig, compress_to_floor
        if "min_accuracy" not in floor:
            raise ValueError("floor_steps needs min_accuracy")
        if checkpoint is not None:
            raise ValueError("checkpoint cannot resume an accuracy-floor search (several runs)")
        if config.objective != "luts":
            raise ValueError("min_accuracy searches the LUT budget: it needs objective 'luts'")
        fc = FloorConfig(min_accuracy=float(floor["min_accuracy"]),  # ValueError: bad floor
                         **({"steps": int(floor["floor_steps"])} if "floor_steps" in floor else {}))

        def run() -> Network:
            say(f"compressing the digits MLP for the smallest design at validation integer "
                f"accuracy >= {fc.min_accuracy} ({fc.steps} trials at most): {config}")
            result = compress_to_floor(load_digits_split(), config, fc, progress=progress,
                                       say=say)
            meta = result.network.meta
            pick = meta["accuracy_floor"]["trials"][meta["accuracy_floor"]["chosen"]]
            say(f"chosen: {pick['lut_eq']} LUT-eq estimated, validation integer "
                f"{pick['val_accuracy']:.4f}; test integer {result.int_accuracy:.4f}")
            return result.network

        return run

    @staticmethod
    def _custom(model: str, data: str | None, conv: dict[str, Any], settings: dict[str, Any],
                progress: bool, say: Callable[[str], None]) -> Callable[[], Network]:
        from . import custom

        for key in ("checkpoint", "checkpoint_every"):
            if settings.pop(key, None) is not None:
                raise ValueError(f"{key} is supported for the built-in MLP only")
        base = dict(custom.DIGITS_CNN_SETTINGS) if model == "cnn" else {}
        config = dataclasses.replace(CompressConfig(), **{**base, **settings})
        custom.check_config(config)  # before any output is touched
        conv_cfg = custom.ConvConfig(**{**(custom.DIGITS_CNN_CONV if model == "cnn" else {}),
                                        **conv})
        if model == "mlp":
            factory: Callable[[], Any] = lambda: None  # noqa: E731 -- built below from data
        elif model == "cnn":
            factory = lambda: custom.digits_cnn(config.seed)  # noqa: E731
        else:
            user = custom.load_factory(model)  # ValueError now, before any training
            factory = lambda: user  # noqa: E731
        if data is not None:
            train, test = custom.load_npz(data)
            input_type = None
            source = data
        else:
            from hlsgen.datasets import load_digits_split
            split = load_digits_split()
            shape = (-1, 1, 8, 8) if model == "cnn" else (-1, 64)
            scale = 2.0 ** -split.input_type.frac
            train = (split.x_train.reshape(shape) * scale, split.y_train)
            test = (split.x_test.reshape(shape) * scale, split.y_test)
            input_type = split.input_type
            source = "sklearn digits, hlsgen.datasets.load_digits_split"
        name = {"cnn": "digits_cnn", "mlp": "digits_mlp"}.get(model, "user_model")

        def run() -> Network:
            net_model = factory()
            if net_model is None:  # the MLP of the built-in recipe, sized by the data
                import numpy as np
                import torch

                from .model import build_mlp
                classes = int(max(np.max(train[1]), np.max(test[1]))) + 1
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(config.seed)
                    net_model = _plain(build_mlp(int(np.prod(train[0].shape[1:])),
                                                 config.hidden, classes, config.a_bits))
            say(f"compressing {model} on {source}: {config}")
            result = custom.compress(net_model, train, test, config, conv_cfg,
                                     input_type=input_type, name=name, progress=progress,
                                     meta={"dataset": source, "model": model})
            say(f"float {result.float_accuracy:.4f}, compressed float "
                f"{result.compressed_float_accuracy:.4f}, integer {result.int_accuracy:.4f}")
            return dataclasses.replace(result.network, meta={
                **dict(result.network.meta),
                "float_accuracy": result.float_accuracy,
                "compressed_float_accuracy": result.compressed_float_accuracy,
            })

        return run


def _plain(model: Any) -> Any:
    """``build_mlp``'s Sequential without its (uncalibrated, identity) quantizers."""
    from torch import nn

    from .model import ActFakeQuant
    return nn.Sequential(*[m for m in model if not isinstance(m, ActFakeQuant)])
