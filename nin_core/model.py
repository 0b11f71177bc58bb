"""Network in Network as the seed builds it: an ``nn.Sequential`` whose children are the chapter's layers."""

from __future__ import annotations

import torch
from torch import nn

from .config import ArchConfig


def nin_block(in_channels: int, out_channels: int, kernel_size: int, strides: int, padding: int) -> nn.Sequential:
    """A k×k convolution, then two 1×1 convolutions acting as per-pixel fully connected layers, each with ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
    )


class NiN(nn.Sequential):
    """The seed's network for any ``ArchConfig``: blocks with a max-pool after each but the last, dropout before
    the last block, then a global average pool and flatten. No fully connected layer: the last block has one
    channel per class, and its output is the class activation map that the pool averages into logits.
    """

    def __init__(self, arch: ArchConfig):
        layers: list[nn.Module] = []
        in_channels = arch.in_channels
        last = len(arch.blocks) - 1
        for i, b in enumerate(arch.blocks):
            if i == last:
                layers.append(nn.Dropout(arch.dropout))
            layers.append(nin_block(in_channels, b.out_channels, b.kernel_size, b.stride, b.padding))
            if i != last:
                layers.append(nn.MaxPool2d(arch.pool_kernel, stride=arch.pool_stride))
            in_channels = b.out_channels
        layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()]
        super().__init__(*layers)
        self.arch = arch

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's output, (N, classes, h, w): channel c is the spatial evidence for class c."""
        for layer in list(self)[:-2]:
            x = layer(x)
        return x

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and class maps from one pass (the global average pool of the maps is the logits)."""
        maps = self.class_maps(x)
        return maps.mean(dim=(2, 3)), maps


def init_weights(model: nn.Module, scheme: str) -> None:
    """``xavier``: d2l's ``train_ch6`` init (xavier-uniform conv/linear weights, biases left as PyTorch sets them);
    ``default``: PyTorch's own initialisation, as constructed."""
    if scheme == "default":
        return

    def xavier(m: nn.Module) -> None:
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)

    model.apply(xavier)


def build_model(arch: ArchConfig, init: str = "xavier") -> NiN:
    model = NiN(arch)
    init_weights(model, init)
    return model
