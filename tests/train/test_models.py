"""Model zoo: shapes, exact parameter counts, Caffe initialisation, Caffe's WITHIN_CHANNEL LRN and
ceil-mode pooling against naive references, option-A shortcuts, channels_last, the registry."""

import math
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lrkit.train.models import (
    CNN3, MODELS, LeNet, ResNet32, ShortcutA, WithinChannelLRN, build_model, resnet18,
    within_channel_lrn,
)

INPUT = {"lenet": (1, 28, 28), "cnn3": (3, 32, 32), "resnet32": (3, 32, 32)}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ shapes and parameter counts


@pytest.mark.parametrize("name", ["lenet", "cnn3", "resnet32"])
@pytest.mark.parametrize("num_classes", [10, 7])
def test_output_shape(name, num_classes):
    torch.manual_seed(0)
    model = build_model(name, num_classes=num_classes).eval()
    with torch.no_grad():
        out = model(torch.randn(3, *INPUT[name]))
    assert out.shape == (3, num_classes)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_parameter_counts():
    # LeNet: conv1 1*20*25+20, conv2 20*50*25+50, ip1 800*500+500, ip2 500*10+10
    assert 1 * 20 * 25 + 20 + 20 * 50 * 25 + 50 + 800 * 500 + 500 + 500 * 10 + 10 == 431_080
    assert n_params(LeNet()) == 431_080

    # CNN3 (cifar10_full), layer by layer
    cnn3 = CNN3()
    per_layer = {name: n_params(getattr(cnn3, name)) for name in ("conv1", "conv2", "conv3", "ip1")}
    assert per_layer == {
        "conv1": 3 * 32 * 25 + 32,      # 2,432
        "conv2": 32 * 32 * 25 + 32,     # 25,632
        "conv3": 32 * 64 * 25 + 64,     # 51,264
        "ip1": 1024 * 10 + 10,          # 10,250
    }
    assert n_params(cnn3) == 89_578 == sum(per_layer.values())

    # ResNet-32, option A, 10 classes: the paper's "0.46M"
    resnet = ResNet32()
    print(f"ResNet-32 parameters: {n_params(resnet):,}")
    assert n_params(resnet) == 464_154


def test_in_channels_and_case_insensitive_names():
    model = build_model("LeNet", num_classes=5, in_channels=3)
    assert model.conv1.in_channels == 3
    assert model(torch.randn(2, 3, 28, 28)).shape == (2, 5)
    assert build_model(" CNN3 ").conv1.in_channels == 3
    assert build_model("resnet32", in_channels=1)(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("lenet", num_classes=0)


def test_lenet_layer_order_matches_prototxt():
    # conv1 -> pool1 -> conv2 -> pool2 -> ip1 -> relu1 -> ip2, no ReLU after the convs, and ip1
    # reads the pool2 blob in Caffe's (C, H, W) order (matters when porting Caffe weights)
    torch.manual_seed(0)
    model = LeNet().eval()
    x = torch.randn(3, 1, 28, 28)
    h = F.max_pool2d(F.conv2d(x, model.conv1.weight, model.conv1.bias), 2, 2)
    h = F.max_pool2d(F.conv2d(h, model.conv2.weight, model.conv2.bias), 2, 2)
    assert h.shape == (3, 50, 4, 4)
    h = F.relu(F.linear(h.contiguous().reshape(3, 800), model.ip1.weight, model.ip1.bias))
    expected = F.linear(h, model.ip2.weight, model.ip2.bias)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


# ------------------------------------------------------------------ initialisation


def test_lenet_caffe_xavier_init():
    torch.manual_seed(0)
    model = LeNet()
    layers = {"conv1": 1 * 5 * 5, "conv2": 20 * 5 * 5, "ip1": 800, "ip2": 500}
    for name, fan_in in layers.items():
        layer = getattr(model, name)
        bound = math.sqrt(3.0 / fan_in)          # Caffe xavier, variance_norm FAN_IN
        w = layer.weight.detach()
        assert w.abs().max() <= bound, name
        assert w.std().item() == pytest.approx(bound / math.sqrt(3.0), rel=0.10), name
        # and fills most of the range (not some narrower init such as torch's xavier_uniform_)
        assert w.abs().max() >= 0.9 * bound, name
        assert torch.count_nonzero(layer.bias) == 0, name


def test_cnn3_gaussian_init():
    torch.manual_seed(0)
    model = CNN3()
    for name, std in (("conv1", 1e-4), ("conv2", 0.01), ("conv3", 0.01), ("ip1", 0.01)):
        layer = getattr(model, name)
        assert layer.weight.std().item() == pytest.approx(std, rel=0.10), name
        assert abs(layer.weight.mean().item()) < 0.1 * std, name
        assert torch.count_nonzero(layer.bias) == 0, name


def test_resnet32_init():
    torch.manual_seed(0)
    model = ResNet32()
    conv = model.layer3[1].conv1                   # 64*64*9 = 36,864 weights
    fan_in = conv.in_channels * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_in), rel=0.05)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        if isinstance(m, nn.Conv2d):
            assert m.bias is None


# ------------------------------------------------------------------ Caffe LRN (WITHIN_CHANNEL)


def naive_within_channel_lrn(x, local_size, alpha, beta):
    """Caffe: y = x * (1 + alpha / n^2 * sum_{n x n window, zero padded} x^2)^(-beta)."""
    n_, c_, h_, w_ = x.shape
    half = (local_size - 1) // 2
    y = torch.empty_like(x)
    for n in range(n_):
        for c in range(c_):
            for i in range(h_):
                for j in range(w_):
                    s = 0.0
                    for di in range(-half, half + 1):
                        for dj in range(-half, half + 1):
                            ii, jj = i + di, j + dj
                            if 0 <= ii < h_ and 0 <= jj < w_:
                                s += float(x[n, c, ii, jj]) ** 2
                    y[n, c, i, j] = float(x[n, c, i, j]) * (1.0 + alpha / local_size**2 * s) ** (-beta)
    return y


@pytest.mark.parametrize("local_size,alpha,beta", [(3, 0.7, 0.75), (5, 0.3, 0.5), (3, 5e-05, 0.75)])
def test_within_channel_lrn_matches_naive(local_size, alpha, beta):
    gen = torch.Generator().manual_seed(1)
    x = 2.0 * torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    expected = naive_within_channel_lrn(x, local_size, alpha, beta)
    torch.testing.assert_close(within_channel_lrn(x, local_size, alpha, beta), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(WithinChannelLRN(local_size, alpha, beta)(x), expected, rtol=1e-12, atol=1e-12)
    if alpha > 0.1:  # a normalisation that actually normalises, and not across channels
        assert not torch.allclose(expected, x)
        across = nn.LocalResponseNorm(local_size, alpha=alpha, beta=beta, k=1.0)(x)
        assert not torch.allclose(expected, across)


def test_within_channel_lrn_channels_last_and_odd_size():
    x = torch.randn(2, 4, 7, 7)
    torch.testing.assert_close(
        within_channel_lrn(x.to(memory_format=torch.channels_last), 3, 0.5, 0.75),
        within_channel_lrn(x, 3, 0.5, 0.75))
    with pytest.raises(ValueError, match="odd"):
        WithinChannelLRN(local_size=4)


# ------------------------------------------------------------------ Caffe ceil-mode pooling


def caffe_pool(x, kernel, stride, mode, pad=0):
    """Naive Caffe PoolingLayer forward (pooling_layer.cpp): ceil-mode output size, AVE divides by
    the window clipped to the padded image."""
    n_, c_, h_, w_ = x.shape
    ph_ = int(math.ceil((h_ + 2 * pad - kernel) / stride)) + 1
    pw_ = int(math.ceil((w_ + 2 * pad - kernel) / stride)) + 1
    if pad:
        ph_ -= (ph_ - 1) * stride >= h_ + pad
        pw_ -= (pw_ - 1) * stride >= w_ + pad
    y = torch.empty(n_, c_, ph_, pw_, dtype=x.dtype)
    for ph in range(ph_):
        for pw in range(pw_):
            hs, ws = ph * stride - pad, pw * stride - pad
            if mode == "max":
                he, we = min(hs + kernel, h_), min(ws + kernel, w_)
                hs, ws = max(hs, 0), max(ws, 0)
                y[:, :, ph, pw] = x[:, :, hs:he, ws:we].amax(dim=(2, 3))
            else:
                he, we = min(hs + kernel, h_ + pad), min(ws + kernel, w_ + pad)
                size = (he - hs) * (we - ws)
                hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h_), min(we, w_)
                y[:, :, ph, pw] = x[:, :, hs:he, ws:we].sum(dim=(2, 3)) / size
    return y


def test_cnn3_ceil_mode_pool_sizes():
    model = CNN3().eval()
    sizes = {}
    for name in ("pool1", "pool2", "pool3"):
        getattr(model, name).register_forward_hook(
            lambda mod, inp, out, name=name: sizes.__setitem__(name, tuple(out.shape[2:])))
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert sizes == {"pool1": (16, 16), "pool2": (8, 8), "pool3": (4, 4)}
    assert model.ip1.in_features == 64 * 4 * 4 == 1024


@pytest.mark.parametrize("pool,size,mode", [("pool1", 32, "max"), ("pool2", 16, "avg"), ("pool3", 8, "avg")])
def test_cnn3_pooling_matches_caffe(pool, size, mode):
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    expected = caffe_pool(x, 3, 2, mode)
    torch.testing.assert_close(getattr(CNN3(), pool)(x), expected)


def test_caffe_pool_reference_sanity():
    # the reference itself: 8 -> 4, last window clipped to 2x2 -> divides by 4, not 9
    x = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    assert caffe_pool(x, 3, 2, "avg").shape == (1, 1, 4, 4)
    assert torch.all(caffe_pool(x, 3, 2, "avg") == 1)
    assert caffe_pool(x, 3, 1, "avg", pad=1)[0, 0, 0, 0].item() == pytest.approx(4 / 9)


# ------------------------------------------------------------------ ResNet-32 option A


def test_resnet32_option_a_shortcuts():
    model = ResNet32()
    blocks = [b for layer in (model.layer1, model.layer2, model.layer3) for b in layer]
    assert len(blocks) == 15
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31  # + fc = 32 weighted layers (6n + 2, n = 5)
    shortcuts = [m for m in model.modules() if isinstance(m, ShortcutA)]
    assert len(shortcuts) == 15
    assert sum(n_params(s) for s in shortcuts) == 0
    assert n_params(model.layer2[0]) == 16 * 32 * 9 + 32 * 32 * 9 + 4 * 32  # convs + BNs only

    x = torch.randn(2, 16, 32, 32)
    y = model.layer2[0].shortcut(x)
    assert y.shape == (2, 32, 16, 16)
    torch.testing.assert_close(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.all(y[:, :8] == 0) and torch.all(y[:, 24:] == 0)
    torch.testing.assert_close(model.layer1[1].shortcut(x), x)


# ------------------------------------------------------------------ training sanity


def test_lenet_one_sgd_step_reduces_loss():
    torch.manual_seed(0)
    model = LeNet()
    x = torch.rand(32, 1, 28, 28)
    y = torch.randint(0, 10, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss0 = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    with torch.no_grad():
        loss1 = F.cross_entropy(model(x), y)
    assert loss1.item() < loss0.item()


# ------------------------------------------------------------------ channels_last


@pytest.mark.parametrize("name", ["lenet", "cnn3", "resnet32"])
def test_channels_last_matches_contiguous(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(4, *INPUT[name])
    with torch.no_grad():
        ref = model(x)
        out_input_cl = model(x.to(memory_format=torch.channels_last))
        model = model.to(memory_format=torch.channels_last)
        out_both_cl = model(x.to(memory_format=torch.channels_last))
    atol = 1e-5 * ref.abs().max().item()   # CNN3's logits are ~1e-5 with Caffe's tiny init
    assert ref.abs().max() > 0
    torch.testing.assert_close(out_input_cl, ref, rtol=1e-4, atol=atol)
    torch.testing.assert_close(out_both_cl, ref, rtol=1e-4, atol=atol)


# ------------------------------------------------------------------ registry and ResNet-18


def test_models_registry():
    assert list(MODELS) == ["lenet", "cnn3", "resnet32", "resnet18"]
    assert MODELS["lenet"] is LeNet and MODELS["cnn3"] is CNN3 and MODELS["resnet32"] is ResNet32
    assert MODELS["resnet18"] is resnet18


def test_build_model_unknown_name_lists_names():
    with pytest.raises(ValueError) as info:
        build_model("resnet34")
    msg = str(info.value)
    assert "'resnet34'" in msg
    for name in MODELS:
        assert repr(name) in msg
    assert "did you mean 'resnet32'?" in msg
    with pytest.raises(ValueError, match="allowed: 'lenet'"):
        build_model("vgg")
    with pytest.raises(ValueError, match="did you mean 'lenet'"):
        build_model("lenet5")


def test_resnet18_without_torchvision_raises(monkeypatch):
    # None in sys.modules makes `import torchvision...` raise ImportError, installed or not
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(ImportError, match="torchvision"):
        resnet18()
    with pytest.raises(ImportError, match="torchvision is required for ImageNet's ResNet-18"):
        build_model("resnet18", num_classes=1000)


def test_resnet18_with_torchvision():
    try:
        model = build_model("resnet18", num_classes=1000)
    except ImportError:
        pytest.skip("torchvision not importable")
    assert n_params(model) == 11_689_512
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
