"""Hook extraction, architectures, safetensors persistence and the training loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_blob_images
from poisonscan.activations import extract_activations, layer_names
from poisonscan.errors import InputError
from poisonscan.models import (MLP, ColorCNN, ModelSpec, SmallCNN, build_model, load_model,
                               save_model)
from poisonscan.train import TrainConfig, accuracy, augment, to_tensor, train_model


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(3, 2)
        self.hidden = nn.ReLU()
        self.classifier = nn.Linear(2, 2)
        with torch.no_grad():
            self.dense.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [0.5, 0.5, 2.0]]))
            self.dense.bias.copy_(torch.tensor([0.0, -1.0]))
            self.classifier.weight.fill_(1.0)
            self.classifier.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.dense(x)))


X = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
EXPECTED_HIDDEN = np.array([[0.0, 6.5], [2.0, 1.0], [0.0, 0.0]], np.float32)


def test_hook_reads_hidden_layer_exactly() -> None:
    model = Tiny()
    acts = extract_activations(model, X, batch_size=2)
    np.testing.assert_allclose(acts, EXPECTED_HIDDEN)
    assert acts.dtype == np.float32
    np.testing.assert_allclose(extract_activations(model, X, layer="dense"),
                               X @ model.dense.weight.detach().numpy().T + [0.0, -1.0], rtol=1e-6)
    assert not model.hidden._forward_hooks and not model.dense._forward_hooks


def test_default_layer_without_hidden_is_input_of_last_linear() -> None:
    tiny = Tiny()
    seq = nn.Sequential(tiny.dense, nn.ReLU(), tiny.classifier)
    np.testing.assert_allclose(extract_activations(seq, X), EXPECTED_HIDDEN)


def test_unknown_layer_lists_valid_names() -> None:
    with pytest.raises(InputError, match=r"valid names: dense, hidden, classifier.*'hidden'"):
        extract_activations(Tiny(), X, layer="hiden")
    assert layer_names(Tiny()) == ["dense", "hidden", "classifier"]


def test_hook_removed_when_forward_fails() -> None:
    model = Tiny()
    with pytest.raises(RuntimeError):
        extract_activations(model, np.zeros((2, 5), np.float32))
    assert not model.hidden._forward_hooks


def test_extract_into_memmap(tmp_path: Path) -> None:
    out = np.lib.format.open_memmap(tmp_path / "a.npy", mode="w+", dtype=np.float32, shape=(3, 2))
    extract_activations(Tiny(), X, out=out, batch_size=1)
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), EXPECTED_HIDDEN)


def test_architecture_from_shape() -> None:
    assert isinstance(build_model(None, (28, 28), 10), SmallCNN)
    assert isinstance(build_model(None, (32, 32, 3), 43), ColorCNN)
    assert isinstance(build_model(None, (20,), 2), MLP)
    with pytest.raises(InputError, match="does not fit"):
        build_model("mlp", (28, 28), 10)
    assert to_tensor(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 3, 32, 32)


def test_safetensors_roundtrip(tmp_path: Path) -> None:
    model = build_model(None, (12, 12), 3)
    spec = ModelSpec("cnn", (12, 12), 3)
    save_model(tmp_path / "m.safetensors", model, spec)
    back, spec2 = load_model(tmp_path / "m.safetensors")
    assert spec2 == spec
    for a, b in zip(model.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a poisonscan"):
        load_model(tmp_path / "bad.safetensors")


def test_training_learns_and_is_seeded() -> None:
    d = make_blob_images()
    cfg = TrainConfig(epochs=3, batch_size=32, seed=1)
    m1 = train_model(build_model(None, (12, 12), 3, seed=1), d.x, d.y, cfg, progress=False)
    m2 = train_model(build_model(None, (12, 12), 3, seed=1), d.x, d.y, cfg, progress=False)
    assert accuracy(m1, d.x_test, d.y_test) > 0.9
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_mlp_standardises_features() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    x = (rng.normal(size=(200, 5)) + y[:, None] * 2.0) * 1000.0 + 5000.0
    m = train_model(build_model(None, (5,), 2), x.astype(np.float32), y,
                    TrainConfig(epochs=5, batch_size=32), progress=False)
    assert accuracy(m, x.astype(np.float32), y) > 0.9


def test_augment_is_a_seeded_warp_of_images_only() -> None:
    images = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a = augment(images, torch.Generator().manual_seed(5))
    b = augment(images, torch.Generator().manual_seed(5))
    assert a.shape == images.shape and torch.equal(a, b)
    assert not torch.allclose(a, images)
    still = augment(images, torch.Generator().manual_seed(5), scale=0, degrees=0, shift=0)
    torch.testing.assert_close(still, images, atol=1e-5, rtol=0)  # the identity warp
    tokens = torch.arange(12).reshape(3, 4)
    assert augment(tokens, torch.Generator()) is tokens  # text and feature vectors: unchanged


def test_photometric_jitter_is_seeded_and_stays_in_range() -> None:
    images = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    calm = dict(scale=0, degrees=0, shift=0)
    a = augment(images, torch.Generator().manual_seed(5), jitter=1.0, **calm)
    assert torch.equal(a, augment(images, torch.Generator().manual_seed(5), jitter=1.0, **calm))
    assert a.min() >= 0 and a.max() <= 1 and not torch.allclose(a, images, atol=1e-3)
    # gamma in [0.5, 2] and gain +-10%: each image's mean moves, but within those bounds
    lo, hi = (images ** 2 * 0.9).mean((1, 2, 3)), (images ** 0.5 * 1.1).mean((1, 2, 3))
    m = a.mean((1, 2, 3))
    assert torch.all(m >= lo - 1e-6) and torch.all(m <= hi.clamp(max=1) + 1e-6)
    with pytest.raises(InputError, match="augment=True"):
        TrainConfig(jitter=1.0)


def test_cosine_schedule_decays_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    step = torch.optim.Adam.step

    def spy(self: torch.optim.Adam, *args: object, **kwargs: object) -> object:
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    d = make_blob_images()
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.01, schedule="cosine")
    train_model(build_model(None, (12, 12), 3, seed=1), d.x, d.y, cfg, progress=False)
    steps = 2 * -(-len(d.y) // 64)
    assert len(seen) == steps and seen[0] == pytest.approx(0.01)
    expected = 0.01 * (1 + np.cos(np.pi * np.arange(steps) / steps)) / 2  # half cosine to 0
    np.testing.assert_allclose(seen, expected, rtol=1e-9)
    with pytest.raises(InputError, match="Did you mean 'cosine'"):
        TrainConfig(schedule="cosin")
    with pytest.raises(InputError, match="lr must be above 0"):  # a model that never learns
        TrainConfig(lr=0.0)


def test_augmented_training_learns_and_is_seeded() -> None:
    d = make_blob_images()
    cfg = TrainConfig(epochs=3, batch_size=32, seed=1, augment=True, jitter=0.5)
    m1 = train_model(build_model(None, (12, 12), 3, seed=1), d.x, d.y, cfg, progress=False)
    m2 = train_model(build_model(None, (12, 12), 3, seed=1), d.x, d.y, cfg, progress=False)
    assert accuracy(m1, d.x_test, d.y_test) > 0.9
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(InputError, match="augment"):
        TrainConfig(augment="yes")


def test_train_device_is_validated_and_the_model_comes_back_on_the_cpu() -> None:
    with pytest.raises(InputError, match="device"):
        TrainConfig(device="gpu0")
    d = make_blob_images()
    m = train_model(build_model(None, (12, 12), 3, seed=1), d.x, d.y,
                    TrainConfig(epochs=1, batch_size=32, device="cpu"), progress=False)
    assert all(p.device.type == "cpu" for p in m.parameters())


def test_a_device_this_machine_lacks_is_refused_before_training() -> None:
    # "meta" exists in every build but holds no data; CUDA is absent from CPU builds.
    with pytest.raises(InputError, match=r"device 'meta' is not available.*--device cpu"):
        TrainConfig(device="meta")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match=r"device 'cuda:0' is not available"):
            TrainConfig(device="cuda:0")
