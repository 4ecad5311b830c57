"""Your own network and data (`compression.custom`, `compression.graph`): torch.fx and ONNX
import give identical artifacts, BatchNorm is folded exactly, an unsupported layer is one
clear error, and `hlsgen compress --model FILE.py:FACTORY --data FILE.npz` works end to end
on a user MLP and a user CNN written here."""

from __future__ import annotations

import os

import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import hlsgen.artifact as artifact
from hlsgen.cli import main
from hlsgen.numerics import forward, predict, quantize

from compression.custom import compress, import_model
from compression.graph import UnsupportedLayer, from_fx
from compression.pipeline import CompressConfig

TINY = CompressConfig(epochs=2, admm_epochs=2, finetune_epochs=1, batch_size=32)


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of 6x6 two-channel images: a bright left or right half, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.uniform(0, 0.3, size=(n, 2, 6, 6))
    for i in range(n):
        x[i, :, :, :3] += 0.7 * (y[i] == 0)
        x[i, :, :, 3:] += 0.7 * (y[i] == 1)
    return x, y


def _cnn() -> nn.Module:
    torch.manual_seed(3)
    m = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.AvgPool2d(2), nn.Flatten(), nn.Linear(36, 2))
    with torch.no_grad():  # non-trivial running statistics to fold
        m[1].running_mean.uniform_(-0.2, 0.2)
        m[1].running_var.uniform_(0.5, 2.0)
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-0.1, 0.1)
    return m.eval()


def test_batchnorm_folding_is_exact():
    m = _cnn()
    ops = import_model(m)
    assert [op.kind for op in ops] == ["conv2d", "relu", "avgpool2d", "flatten", "linear"]
    x = torch.rand(3, 2, 6, 6)
    conv = ops[0]
    folded = torch.nn.functional.conv2d(x.double(), torch.tensor(conv.weight),
                                        torch.tensor(conv.bias), padding=1)
    assert torch.allclose(folded, m[1](m[0](x)).double(), atol=1e-5)


def test_fx_and_onnx_give_identical_artifacts(tmp_path):
    try:
        import onnx
    except ImportError as exc:  # the onnx extra; CI installs it (Makefile)
        if os.environ.get("CI"):
            pytest.fail(f"onnx missing in CI: {exc}")
        pytest.skip(f"the onnx extra is not installed: {exc}")
    m = _cnn()
    path = tmp_path / "m.onnx"
    torch.onnx.export(m, (torch.zeros(1, 2, 6, 6),), str(path), dynamo=False,
                      do_constant_folding=False)
    assert isinstance(onnx.load(str(path)), onnx.ModelProto)
    train, test = _images(96, 0), _images(32, 1)
    a = compress(m, train, test, TINY, name="tiny")
    b = compress(str(path), train, test, TINY, name="tiny")
    assert artifact.dumps(a.network) == artifact.dumps(b.network)
    assert [layer.type for layer in a.network.layers] == ["conv2d", "avgpool2d", "flatten",
                                                          "dense"]


def test_data_as_dataloader_gives_the_same_artifact():
    m = _cnn()
    train, test = _images(64, 0), _images(16, 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.tensor(train[0]), torch.tensor(train[1])), batch_size=10)
    a = compress(m, train, test, TINY)
    b = compress(m, loader, (torch.tensor(test[0]), torch.tensor(test[1])), TINY)
    assert artifact.dumps(a.network) == artifact.dumps(b.network)


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + x


@pytest.mark.parametrize("model, words", [
    (nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2)),
     ["graph node 2", "'1'", "(Sigmoid)", "Sigmoid is not supported", "replace or remove"]),
    (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.ReLU()),
     ["graph node 1", "(Conv2d)", "groups 2"]),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(3)),
     ["graph node 2", "(MaxPool2d)", "powers of two"]),
    (_Residual(), ["graph node 2", "(add)", "not a chain"]),
])
def test_unsupported_layer_is_one_clear_error(model, words):
    with pytest.raises(UnsupportedLayer) as err:
        from_fx(model)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


USER_MODELS = textwrap.dedent('''
    import torch
    from torch import nn

    def mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(72, 16), nn.BatchNorm1d(16), nn.ReLU(),
                             nn.Dropout(0.1), nn.Linear(16, 2))

    def cnn():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(36, 2))

    def broken():
        return nn.Sequential(nn.Conv2d(2, 4, 3), nn.Tanh())
''')


@pytest.mark.parametrize("factory, kinds", [
    ("cnn", ["conv2d", "maxpool2d", "flatten", "dense"]),
    ("mlp", ["flatten", "dense", "dense"]),
])
def test_cli_compress_user_model_and_data(tmp_path, capsys, factory, kinds):
    (tmp_path / "models.py").write_text(USER_MODELS)
    (x_tr, y_tr), (x_te, y_te) = _images(128, 0), _images(40, 1)
    np.savez(tmp_path / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    out = tmp_path / "a.json"
    code = main(["compress", "--model", f"{tmp_path / 'models.py'}:{factory}", "--data",
                 str(tmp_path / "data.npz"), "--out", str(out), "--epochs", "4",
                 "--admm-epochs", "2", "--finetune-epochs", "2", "--no-progress"])
    assert code == 0
    net = artifact.load(out)
    assert [layer.type for layer in net.layers] == kinds
    # the integer accuracy the artifact reports is the reference model's on the quantized data
    xq = quantize(x_te, net.input).reshape(len(x_te), -1)
    acc = float(np.mean(predict(forward(net, xq)) == y_te))
    assert acc == net.meta["accuracy"]["int"]
    assert acc >= 0.9  # the halves are easy to tell apart


def test_cli_compress_bad_model_is_one_line(tmp_path, capsys):
    (tmp_path / "models.py").write_text(USER_MODELS)
    np.savez(tmp_path / "data.npz", x_train=np.zeros((4, 2, 6, 6)), y_train=np.zeros(4, int),
             x_test=np.zeros((2, 2, 6, 6)), y_test=np.zeros(2, int))
    out = tmp_path / "a.json"
    code = main(["compress", "--model", f"{tmp_path / 'models.py'}:broken", "--data",
                 str(tmp_path / "data.npz"), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "Tanh" in err and len(err.strip().splitlines()) == 1, err
    code = main(["compress", "--model", "nope.py", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "FILE.py:FACTORY" in err
