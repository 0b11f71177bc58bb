"""Configuration: the seed preset is the chapter, JSON round trips, and every bad value is named with a reason."""

from __future__ import annotations

import json

import pytest

from nin_core.network.config import PRESETS, SEED, ConfigError, RunConfig, preset


def fields_of(config: RunConfig) -> dict[str, str]:
    return {i.field: i.message for i in config.validate()}


def test_seed_preset_is_the_chapter():
    a, t = SEED.arch, SEED.train
    assert [(b.out_channels, b.kernel_size, b.stride, b.padding) for b in a.blocks] == [
        (96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1), (10, 3, 1, 1)]
    assert (a.pool_kernel, a.pool_stride, a.dropout, a.in_channels, a.num_classes, a.resize) == (3, 2, 0.5, 1, 10, 224)
    assert (t.lr, t.epochs, t.batch_size, t.optimizer, t.momentum, t.weight_decay, t.init) == (
        0.1, 10, 128, "sgd", 0.0, 0.0, "xavier")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_round_trip_through_json(name):
    config = preset(name)
    assert config.validate() == []
    assert RunConfig.from_json(config.to_json()) == config
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_partial_json_takes_defaults_and_compact_blocks():
    config = RunConfig.from_json('{"arch": {"resize": 96, "blocks": [[96,11,4,0],[256,5,1,2],[384,3,1,1],[10,3,1,1]]},'
                                 ' "train": {"lr": 0.05}}')
    assert config == SEED.with_overrides(resize=96, lr=0.05)


def test_resize_too_small_names_the_minimum_and_the_layer():
    message = fields_of(SEED.with_overrides(resize=60))["arch.resize"]
    assert message.startswith("resize 60 is too small for this architecture: it needs at least 67 px (the third "
                              "max-pool")


@pytest.mark.parametrize("overrides, field, words", [
    ({"lr": 0}, "train.lr", "must be in (0, 100]"),
    ({"lr": float("nan")}, "train.lr", "finite"),
    ({"lr": float("inf")}, "train.lr", "finite"),
    ({"lr": "0.1"}, "train.lr", "must be a number"),
    ({"epochs": 0}, "train.epochs", "between 1 and 1000"),
    ({"epochs": 2.5}, "train.epochs", "whole number"),
    ({"batch_size": 0}, "train.batch_size", "between 1 and 8192"),
    ({"batch_size": 512, "train_size": 100}, "train.batch_size", "larger than the 100 training images"),
    ({"train_size": 70000}, "train.train_size", "between 1 and 60000"),
    ({"processes": 4, "batch_size": 2}, "train.batch_size", "cannot be shared out over 4 processes"),
    ({"processes": 0}, "train.processes", "between 1 and 64"),
    ({"test_size": 0}, "train.test_size", "between 1 and 10000"),
    ({"momentum": 1.0}, "train.momentum", "[0, 1)"),
    ({"dropout": -0.1}, "arch.dropout", "[0, 1)"),
    ({"optimizer": "rmsprop"}, "train.optimizer", "one of sgd, adam, adamw"),
    ({"init": "he"}, "train.init", "one of xavier, default"),
    ({"device": "gpu"}, "train.device", "auto, cpu, cuda, cuda:N or mps"),
    ({"precision": "fp8"}, "train.precision", "one of auto, float32, bf16"),
    ({"seed": -1}, "train.seed", "between 0"),
    ({"resize": 5000}, "arch.resize", "between 1 and 1024"),
    ({"pool_kernel": 0}, "arch.pool_kernel", "between 1 and 15"),
    ({"num_classes": 5}, "arch.blocks[3].out_channels", "must equal num_classes (5)"),
])
def test_bad_values_are_named_with_a_reason(overrides, field, words):
    issues = fields_of(SEED.with_overrides(**overrides))
    assert field in issues, issues
    assert words in issues[field]


def test_bad_block_values_name_the_block():
    blocks = list(SEED.arch.blocks)
    blocks[1] = type(blocks[1])(256, 0, 1, 2)
    issues = fields_of(SEED.with_overrides(blocks=tuple(blocks)))
    assert "arch.blocks[1].kernel_size" in issues


def test_json_with_unknown_or_wrong_fields_names_them_all():
    with pytest.raises(ConfigError) as e:
        RunConfig.from_json('{"arch": {"resize": "big", "colour": 1}, "train": {"lr": true}, "extra": 1}')
    fields = {i.field for i in e.value.issues}
    assert fields == {"arch.resize", "arch.colour", "train.lr", "extra"}


@pytest.mark.parametrize("text, words", [("{", "not valid JSON"), ("[1, 2]", "must be a JSON object")])
def test_json_that_is_not_a_config(text, words):
    with pytest.raises(ConfigError, match=words):
        RunConfig.from_json(text)


DEEP_JSON = "[" * 100_000 + "]" * 100_000
LONG_EPOCHS = '{"train": {"epochs": ' + "9" * 5000 + "}}"


@pytest.mark.parametrize("text, said", [
    (DEEP_JSON, "config: is nested too deeply to be a configuration"),
    (LONG_EPOCHS, "config: holds a number of more than 4300 digits"),
], ids=["deep", "long-number"])
def test_json_beyond_what_python_parses_is_a_config_error(text, said):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_json(text)
    assert str(e.value) == said


def test_check_raises_with_every_issue_and_unknown_override_is_refused():
    with pytest.raises(ConfigError) as e:
        SEED.with_overrides(lr=-1, epochs=0).check()
    assert {i.field for i in e.value.issues} == {"train.lr", "train.epochs"}
    with pytest.raises(ConfigError, match="colour: is not a setting"):
        SEED.with_overrides(colour=1)
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        preset("huge")
