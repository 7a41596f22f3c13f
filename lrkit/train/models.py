"""Model zoo of the LRBench experiments: Caffe's LeNet (MNIST) and cifar10_full "CNN3" (CIFAR-10),
He et al.'s CIFAR ResNet-32, and torchvision's ResNet-18 (ImageNet).

Every model's ``forward(x)`` returns logits of shape ``(N, num_classes)`` and works with
``torch.channels_last`` inputs and models (flattening uses ``torch.flatten``, never ``.view``).

>>> from lrkit.train.models import build_model
>>> sum(p.numel() for p in build_model("lenet").parameters())
431080
>>> build_model("lenet5")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown model 'lenet5'; did you mean 'lenet'? allowed: 'lenet', 'cnn3', 'resnet32', 'resnet18'; or an ...
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LeNet", "CNN3", "ResNet32", "BasicBlock", "ShortcutA", "WithinChannelLRN", "within_channel_lrn",
    "caffe_xavier_", "resnet18", "build_model", "MODELS",
]


# --------------------------------------------------------------------------- Caffe fillers


def _fan_in(weight: torch.Tensor) -> int:
    """Caffe's fan_in: ``count / num`` = in_channels*kh*kw for a conv, in_features for a linear."""
    return weight[0].numel()


@torch.no_grad()
def caffe_xavier_(weight: torch.Tensor) -> torch.Tensor:
    """Caffe's ``"xavier"`` filler with its default ``variance_norm: FAN_IN``, in place.

    uniform(-a, a) with a = sqrt(3 / fan_in), so Var = 1 / fan_in (caffe/filler.hpp, XavierFiller).
    This is *not* ``torch.nn.init.xavier_uniform_``, which uses (fan_in + fan_out) / 2.
    """
    bound = math.sqrt(3.0 / _fan_in(weight))
    return weight.uniform_(-bound, bound)


# --------------------------------------------------------------------------- LeNet


class LeNet(nn.Module):
    """Caffe's MNIST LeNet (examples/mnist/lenet_train_test.prototxt), 431,080 parameters.

    conv1 20@5x5 stride 1, no padding -> max-pool 2x2 stride 2 -> conv2 50@5x5 -> max-pool 2x2
    stride 2 -> ip1 fc 500 -> ReLU -> ip2 fc ``num_classes``. There is no non-linearity after the
    convolutions, exactly as in the prototxt. Input ``(N, in_channels, 28, 28)``; the prototxt's
    ``scale: 0.00390625`` (1/256) belongs to the data layer, not to this module.

    Init as in the prototxt: weights ``"xavier"`` (Caffe's FAN_IN form, see :func:`caffe_xavier_`),
    biases ``"constant"`` 0.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, kernel_size=5, stride=1)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5, stride=1)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.ip1 = nn.Linear(50 * 4 * 4, 500)
        self.relu1 = nn.ReLU(inplace=True)
        self.ip2 = nn.Linear(500, num_classes)
        for m in (self.conv1, self.conv2, self.ip1, self.ip2):
            caffe_xavier_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = torch.flatten(x, 1)  # (C, H, W) order whatever the memory format
        return self.ip2(self.relu1(self.ip1(x)))


# --------------------------------------------------------------------------- CNN3 (cifar10_full)


def within_channel_lrn(x: torch.Tensor, local_size: int = 3, alpha: float = 5e-05,
                       beta: float = 0.75) -> torch.Tensor:
    """Caffe's LRN with ``norm_region: WITHIN_CHANNEL`` (caffe/layers/lrn_layer.cpp).

    y = x / (1 + alpha * mean_{n x n}(x^2))^beta, n = ``local_size`` (odd), where the mean is over
    the n x n spatial window centred on each pixel of the same channel, zero padded at the borders
    and always divided by n*n. Caffe builds it as square -> AVE pool (kernel n, pad (n-1)/2,
    stride 1) -> power(shift 1, scale alpha, power -beta) -> product; the "alpha/n" of Caffe's
    docs is alpha over the region size n*n. ``k`` is not used in this mode (the shift is fixed to 1).
    torch's ``nn.LocalResponseNorm`` is the ACROSS_CHANNELS variant and does not apply here.
    """
    if local_size < 1 or local_size % 2 != 1:
        raise ValueError(f"within_channel_lrn: local_size must be a positive odd int, got {local_size}")
    pad = (local_size - 1) // 2
    mean_sq = F.avg_pool2d(x * x, kernel_size=local_size, stride=1, padding=pad,
                           ceil_mode=False, count_include_pad=True)
    return x * (1.0 + alpha * mean_sq).pow(-beta)


class WithinChannelLRN(nn.Module):
    """Module form of :func:`within_channel_lrn` (Caffe LRN, WITHIN_CHANNEL); no parameters."""

    def __init__(self, local_size: int = 3, alpha: float = 5e-05, beta: float = 0.75):
        super().__init__()
        if local_size < 1 or local_size % 2 != 1:
            raise ValueError(f"WithinChannelLRN: local_size must be a positive odd int, got {local_size}")
        self.local_size, self.alpha, self.beta = local_size, alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return within_channel_lrn(x, self.local_size, self.alpha, self.beta)

    def extra_repr(self) -> str:
        return f"local_size={self.local_size}, alpha={self.alpha}, beta={self.beta}, norm_region=WITHIN_CHANNEL"


class CNN3(nn.Module):
    """Caffe's "cifar10_full" 3-conv net (examples/cifar10/cifar10_full_train_test.prototxt).

    conv1 32@5x5 pad 2 -> max-pool 3 stride 2 -> ReLU -> LRN ;
    conv2 32@5x5 pad 2 -> ReLU -> avg-pool 3 stride 2 -> LRN ;
    conv3 64@5x5 pad 2 -> ReLU -> avg-pool 3 stride 2 ; ip1 fc ``num_classes``.
    LRN = :class:`WithinChannelLRN` (local_size 3, alpha 5e-05, beta 0.75). Input
    ``(N, in_channels, 32, 32)``; 89,578 parameters with 3 input channels and 10 classes.

    Caffe pools in ceil mode (out = ceil((in + 2p - k) / s) + 1), hence ``ceil_mode=True``:
    32 -> 16 -> 8 -> 4 and ip1 sees 64*4*4 = 1024 features. With no padding, Caffe's AVE pool and
    torch's ``avg_pool2d(ceil_mode=True)`` both divide the clipped last window by its in-image size.

    Init as in the prototxt: gaussian weights with std 1e-4 (conv1) and 0.01 (conv2, conv3, ip1),
    biases constant 0. The prototxt's per-layer lr/decay multipliers (ip1 ``decay_mult: 250``,
    biases ``lr_mult: 2``) are the optimizer's business; this is only the module.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=5, stride=1, padding=2)
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.relu1 = nn.ReLU(inplace=True)
        self.norm1 = WithinChannelLRN(3, 5e-05, 0.75)
        self.conv2 = nn.Conv2d(32, 32, kernel_size=5, stride=1, padding=2)
        self.relu2 = nn.ReLU(inplace=True)
        self.pool2 = nn.AvgPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.norm2 = WithinChannelLRN(3, 5e-05, 0.75)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2)
        self.relu3 = nn.ReLU(inplace=True)
        self.pool3 = nn.AvgPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.ip1 = nn.Linear(64 * 4 * 4, num_classes)
        for m, std in ((self.conv1, 1e-4), (self.conv2, 0.01), (self.conv3, 0.01), (self.ip1, 0.01)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            nn.init.zeros_(m.bias)

    #: the prototxt's ``param { lr_mult decay_mult }`` per parameter (absent: 1, 1); see
    #: :func:`caffe_param_groups`. conv3 sets none, so its bias keeps lr_mult 1.
    caffe_mults = {"conv1.bias": (2.0, 1.0), "conv2.bias": (2.0, 1.0),
                   "ip1.weight": (1.0, 250.0), "ip1.bias": (2.0, 0.0)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(self.relu1(self.pool1(self.conv1(x))))
        x = self.norm2(self.pool2(self.relu2(self.conv2(x))))
        x = self.pool3(self.relu3(self.conv3(x)))
        return self.ip1(torch.flatten(x, 1))


def caffe_param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer param groups carrying a Caffe model's per-layer multipliers.

    Caffe's solver gives parameter p the LR ``base_lr(t) · lr_mult(p)`` and the L2 weight decay
    ``weight_decay · decay_mult(p)`` (both multipliers 1 unless the prototxt's ``param`` block sets
    them). ``model.caffe_mults`` maps parameter names to ``(lr_mult, decay_mult)``; the groups returned
    have ``weight_decay`` already multiplied and an ``lr_mult`` key that
    :func:`lrkit.train.monitor.set_lr` applies to the policy's η(t) at every iteration.
    """
    mults = getattr(model, "caffe_mults", None)
    if mults is None:
        raise ValueError(f"layer_mults: model {type(model).__name__} has no Caffe multipliers (caffe_mults); "
                         "models with them: cnn3")
    names = dict(model.named_parameters())
    unknown = sorted(set(mults) - set(names))
    if unknown:
        raise ValueError(f"layer_mults: {type(model).__name__}.caffe_mults names no parameter {unknown}")
    groups: dict[tuple[float, float], list] = {}
    for name, p in names.items():
        groups.setdefault(tuple(mults.get(name, (1.0, 1.0))), []).append(p)
    return [{"params": ps, "lr_mult": lm, "weight_decay": weight_decay * dm} for (lm, dm), ps in groups.items()]


# --------------------------------------------------------------------------- ResNet-32 (CIFAR)


class ShortcutA(nn.Module):
    """He et al. 2016 option-A shortcut: identity, or stride-``stride`` subsampling plus zero-padded
    extra channels (split evenly before and after the existing ones). No parameters."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        if out_planes < in_planes or (out_planes - in_planes) % 2:
            raise ValueError(f"ShortcutA: cannot pad {in_planes} channels to {out_planes}")
        self.stride, self.pad = stride, (out_planes - in_planes) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad, self.pad))
        return x


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the option-A shortcut, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet32(nn.Module):
    """He et al. 2016 (Deep Residual Learning, sec. 4.2) CIFAR ResNet with 6n+2 = 32 layers (n = 5).

    3x3 conv 16 -> BN -> ReLU -> three stages of n basic blocks with 16 / 32 / 64 channels (stride 2
    at the first block of stages 2 and 3; feature maps 32 / 16 / 8) -> global average pool -> fc
    ``num_classes``. Shortcuts are option A (identity; parameter-free zero-padding + subsampling
    where the shape changes). Convs have no bias (BatchNorm follows). 464,154 parameters with 3
    input channels and 10 classes (the paper's "0.46M").

    Init: convs and fc weights ``kaiming_normal_(mode="fan_in", nonlinearity="relu")``, i.e.
    std = sqrt(2 / fan_in) (He et al. 2015; Caffe's "msra" filler default and the common PyTorch
    CIFAR reproduction); fc bias 0; BN weight 1, bias 0.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, n: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        stages = []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


# --------------------------------------------------------------------------- ResNet-18 (ImageNet)


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> nn.Module:
    """torchvision's ImageNet ResNet-18 (He et al. 2016), randomly initialised (no weights).

    Needs torchvision; raises ImportError otherwise (ResNet-18 is deliberately not re-implemented
    here). ``in_channels != 3`` replaces the stem conv (7x7/2, 64, no bias, kaiming fan_out init
    as torchvision's).
    """
    try:
        from torchvision.models import resnet18 as _tv_resnet18
    except Exception as err:  # missing, or installed but broken against this torch
        raise ImportError(
            "torchvision is required for ImageNet's ResNet-18 (lrkit.train.models.resnet18 / "
            f"build_model('resnet18')); install a torchvision matching torch {torch.__version__}. "
            f"Import failed with {type(err).__name__}: {err}"
        ) from err
    try:
        model = _tv_resnet18(weights=None, num_classes=num_classes)
    except TypeError:  # torchvision < 0.13 has no `weights`
        model = _tv_resnet18(pretrained=False, num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


# --------------------------------------------------------------------------- registry


MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet": LeNet,
    "cnn3": CNN3,
    "resnet32": ResNet32,
    "resnet18": resnet18,
}


def build_model(name: str, num_classes: int = 10, in_channels: int | None = None,
                input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Build a model of :data:`MODELS` by name (case-insensitive), or one of your own: a name given
    to :func:`lrkit.register_model` or an import path ``"package.module:function"``
    (:mod:`lrkit.train.registry`; its factory gets the keywords it names among ``num_classes``,
    ``in_channels`` and ``input_shape``, the shape of one sample, which the built-ins ignore).

    ``in_channels=None`` keeps the model's own default (1 for LeNet, 3 otherwise). Note that
    ``num_classes`` defaults to 10 here for every name; ask ImageNet's ResNet-18 with
    ``build_model("resnet18", num_classes=1000)``. Unknown names raise ValueError listing the names.
    """
    from .registry import build_user_model, check_model_name

    check_model_name(name)  # an unknown name: ValueError listing the built-in and registered names
    key = name.strip().lower()
    if key not in MODELS:  # registered, or an import path
        return build_user_model(name, num_classes, in_channels, input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"build_model: num_classes must be a positive int, got {num_classes!r}")
    kwargs = {"num_classes": num_classes}
    if in_channels is not None:
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"build_model: in_channels must be a positive int, got {in_channels!r}")
        kwargs["in_channels"] = in_channels
    return MODELS[key](**kwargs)
