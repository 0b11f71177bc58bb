"""Network in Network as the seed builds it: an ``nn.Sequential`` whose children are the chapter's layers.

Beyond the chapter, each setting defaults to the chapter's way: batch norm after every convolution, another
number (or kernel) of 1×1 convolutions per block, a fully connected head instead of the global average pool,
and no ReLU after the last block.
"""

from __future__ import annotations

import torch
from torch import nn

from nin_core.network.config import ArchConfig
from nin_core.network.geometry import last_block_size


def nin_block(in_channels: int, out_channels: int, kernel_size: int, strides: int, padding: int, *,
              pointwise_convs: int = 2, pointwise_kernel: int = 1, batch_norm: bool = False,
              last_relu: bool = True) -> nn.Sequential:
    """A k×k convolution, then 1×1 convolutions acting as per-pixel fully connected layers, each with ReLU
    (the chapter: two of them, no batch norm)."""
    layers: list[nn.Module] = []
    convs = [nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding)]
    convs += [nn.Conv2d(out_channels, out_channels, pointwise_kernel, padding=pointwise_kernel // 2)
              for _ in range(pointwise_convs)]
    for i, conv in enumerate(convs):
        layers.append(conv)
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if last_relu or i < len(convs) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class NiN(nn.Sequential):
    """The seed's network for any ``ArchConfig``: blocks with a max-pool after each but the last, dropout before
    the last block, then a global average pool and flatten. No fully connected layer: the last block has one
    channel per class, and its output is the class activation map that the pool averages into logits.
    With ``head="fc"`` the last block keeps its channels, and flatten and a linear layer give the logits.
    """

    def __init__(self, arch: ArchConfig):
        layers: list[nn.Module] = []
        in_channels = arch.in_channels
        last = len(arch.blocks) - 1
        for i, b in enumerate(arch.blocks):
            if i == last:
                layers.append(nn.Dropout(arch.dropout))
            layers.append(nin_block(in_channels, b.out_channels, b.kernel_size, b.stride, b.padding,
                                    pointwise_convs=arch.pointwise_convs, pointwise_kernel=arch.pointwise_kernel,
                                    batch_norm=arch.batch_norm, last_relu=i != last or arch.final_relu))
            if i != last:
                layers.append(nn.MaxPool2d(arch.pool_kernel, stride=arch.pool_stride))
            in_channels = b.out_channels
        if arch.head == "fc":
            side = last_block_size(arch, arch.resize)
            layers += [nn.Flatten(), nn.Linear(in_channels * side * side, arch.num_classes)]
        else:
            layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()]
        super().__init__(*layers)
        self.arch = arch

    @property
    def has_class_maps(self) -> bool:
        """Whether the last block's channels are the classes (the chapter's head), pooled into the logits."""
        return self.arch.head == "gap"

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's output, (N, channels, h, w): with the chapter's head, channel c is the spatial
        evidence for class c."""
        for layer in list(self)[:-2]:
            x = layer(x)
        return x

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the last block's maps from one pass (with the chapter's head, the logits are the maps'
        global average)."""
        maps = self.class_maps(x)
        return self[-1](self[-2](maps)), maps


def predict_logits(model: nn.Module, x: torch.Tensor, tta: bool = False) -> torch.Tensor:
    """The model's logits; with ``tta``, the log of the probabilities averaged over the image and its mirror."""
    if not tta:
        return model(x)
    probs = (model(x).float().softmax(1) + model(x.flip(-1)).float().softmax(1)) / 2
    return probs.log()


def init_weights(model: nn.Module, scheme: str) -> None:
    """``xavier``: d2l's ``train_ch6`` init (xavier-uniform conv/linear weights, biases left as PyTorch sets them);
    ``default``: PyTorch's own initialisation, as constructed."""
    if scheme == "default":
        return

    def xavier(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)

    model.apply(xavier)


def build_model(arch: ArchConfig, init: str = "xavier") -> NiN:
    model = NiN(arch)
    init_weights(model, init)
    return model
