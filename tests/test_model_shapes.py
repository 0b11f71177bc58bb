"""The seed's network, reproduced shape for shape, and the contract every configuration's model keeps."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch
from conftest import CHAPTER_SHAPES

from nin_core.network.config import PRESETS, SEED, ArchConfig, BlockConfig
from nin_core.network.model import NiN, build_model, nin_block
from nin_core.network.shapes import min_input_size, shape_table, size_problem

SEED_CHAPTER = Path(__file__).resolve().parents[2] / "shared" / "seed" / "nin-chapter.md"


def normalise(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", line).strip() for line in text.strip().splitlines()]


def test_seed_printout_is_the_chapters():
    if SEED_CHAPTER.exists():
        chapter = SEED_CHAPTER.read_text()
        block = chapter.split('title="每层输出的形状"')[1].split("```")[0]
        assert normalise(block.split("\n", 1)[1]) == normalise(CHAPTER_SHAPES)
    net = build_model(SEED.arch)
    out = io.StringIO()
    X = torch.rand(size=(1, 1, 224, 224))
    with contextlib.redirect_stdout(out):
        for layer in net:  # the chapter's own loop, verbatim
            X = layer(X)
            print(layer.__class__.__name__, 'output shape:\t', X.shape)
    assert normalise(out.getvalue()) == normalise(CHAPTER_SHAPES)


def test_seed_layers_are_the_chapters():
    net = NiN(SEED.arch)
    assert len(net) == 10
    convs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
             for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] != 1]
    assert convs == [(1, 96, 11, 4, 0), (96, 256, 5, 1, 2), (256, 384, 3, 1, 1), (384, 10, 3, 1, 1)]
    assert [type(m).__name__ for m in net[0]] == ["Conv2d", "ReLU"] * 3
    assert net[6].p == 0.5
    assert all(net[i].kernel_size == 3 and net[i].stride == 2 for i in (1, 3, 5))
    assert str(nin_block(1, 96, 11, 4, 0)) == str(net[0])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_model_contract(name):
    """Every preset's model: logits per class, class maps whose global average is the logits, the shape table's
    parameter count, and train/eval behaving as a dropout network should."""
    arch = PRESETS[name].arch
    size = max(min_input_size(arch), 32) if name == "seed" else arch.resize
    model = build_model(arch).eval()
    x = torch.rand(2, arch.in_channels, size, size)
    with torch.no_grad():
        logits, maps = model.forward_with_maps(x)
        assert model(x).shape == (2, arch.num_classes)
        assert torch.allclose(model(x), logits, atol=1e-6)
    assert maps.shape[:2] == (2, arch.num_classes) and (maps >= 0).all()
    table = shape_table(arch, size)
    assert table.ok and table.output_shape == (1, arch.num_classes)
    assert table.total_params == sum(p.numel() for p in model.parameters())


def test_xavier_init_differs_from_default_and_is_seeded():
    torch.manual_seed(0)
    a = build_model(SEED.arch, "xavier")
    torch.manual_seed(0)
    b = build_model(SEED.arch, "xavier")
    torch.manual_seed(0)
    c = build_model(SEED.arch, "default")
    assert torch.equal(a[0][0].weight, b[0][0].weight)
    assert not torch.equal(a[0][0].weight, c[0][0].weight)
    bound = (6 / (1 * 121 + 96 * 121)) ** 0.5  # xavier-uniform's bound for the 11×11 conv, 1 → 96 channels
    assert a[0][0].weight.abs().max() <= bound


def test_seed_shape_table_matches_printout_and_counts():
    table = shape_table(SEED.arch)
    shapes = [f"torch.Size({list(r.output_shape)})" for r in table.rows]
    assert shapes == [line.split("shape: ")[1] for line in normalise(CHAPTER_SHAPES)]
    assert [r.layer for r in table.rows] == [line.split()[0] for line in normalise(CHAPTER_SHAPES)]
    # first block: 11×11 conv (1→96) then two 1×1 convs (96→96), over a 54×54 output
    assert table.rows[0].mult_adds == 54 * 54 * 96 * (121 + 2 * 96)
    assert table.rows[0].params == (121 * 96 + 96) + 2 * (96 * 96 + 96)
    assert table.total_params == 1_992_166
    assert table.min_input_size == 67


def test_too_small_input_gives_rows_until_the_failing_layer():
    table = shape_table(SEED.arch, 60)
    assert not table.ok
    assert [r.index for r in table.rows] == [0, 1, 2, 3, 4, 5]
    assert table.rows[-1].layer == "MaxPool2d" and table.rows[-1].output_shape is None
    assert table.error == "the third max-pool would get a 2×2 input, smaller than its 3×3 window"
    assert size_problem(SEED.arch, 60).startswith(
        "resize 60 is too small for this architecture: it needs at least 67 px (the third max-pool")
    assert size_problem(SEED.arch, 67) is None and size_problem(SEED.arch, 66) is not None


def test_failing_first_conv_names_it():
    arch = ArchConfig(blocks=(BlockConfig(8, 11, 4, 0), BlockConfig(10, 3, 1, 1)))
    table = shape_table(arch, 8)
    assert table.rows[0].error.startswith("the first NiN block's 11×11 convolution would get a 8×8 input")
    assert min_input_size(arch) == 19  # the 3×3 pool needs a 3×3 map: (19 - 11) // 4 + 1 = 3


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_table_formats_carry_every_row(fmt):
    table = shape_table(SEED.arch)
    out = getattr(table, f"to_{fmt}")()
    for row in table.rows:
        assert row.description in out
        assert f"{row.mult_adds:,}" in out if fmt == "text" else str(row.mult_adds) in out
