"""The ADMM micro-structure compressor: the only part of the project that imports torch.

It turns a PyTorch MLP into micro-structured integer weights (blocks pruned, unified or
dense) and exports an :class:`hlsgen.artifact.Network`.

* :mod:`compression.pipeline` -- ``compress_digits(CompressConfig(), progress=True)``, the
  one-call entry (dense training -> ADMM -> frozen structure -> fine-tuning -> export);
* :mod:`compression.projection` -- ``project(w, block, prune, unify, w_frac=, w_bits=)``, the
  exact Euclidean projection onto the micro-structure set;
* :mod:`compression.admm` -- ``MicroStructureSparsifier`` (``prepare``/``step``/``penalty``/
  ``freeze``/``export``/``squash_mask``/``state_dict``, as ``torch.ao.pruning``), the
  ``ExponentialRhoScheduler`` of its rho and the ``MicroStructure`` parametrization;
* :mod:`compression.model` -- ``build_mlp`` and the activation/bias fake quantizers;
* :mod:`compression.export` -- ``export_network(model)`` to an artifact ``Network``.

* :mod:`compression.custom` -- ``compress(model, train_data, test_data, config)``: your own
  ``nn.Module`` (torch.fx) or ONNX file and data (also ``compression.compress``);
* :mod:`compression.graph` -- the fx / ONNX importers and the BatchNorm-folding pass.

Nothing is imported here, so ``import compression`` stays cheap; import the submodules
(``compression.compress`` imports :mod:`compression.custom` on first use).
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "compress":
        from .custom import compress
        return compress
    raise AttributeError(f"module 'compression' has no attribute {name!r}")
