from __future__ import annotations

import json

import pytest

from adainf import augment, config, methods
from adainf.config import RunConfig


def test_save_load_round_trip(tmp_path):
    cfg = config.apply_overrides(RunConfig(), ["train.steps=7", "augment.view2.solarize_prob=0.2", "name=x"])
    config.save(cfg, tmp_path / "c.json")
    assert config.load(tmp_path / "c.json") == cfg
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary behind


def test_toml_partial_file_keeps_defaults(tmp_path):
    (tmp_path / "c.toml").write_text('seed = 3\n[train]\nsteps = 12\n[augment.view1]\nhue = 0.05\n')
    cfg = config.load(tmp_path / "c.toml")
    assert (cfg.seed, cfg.train.steps, cfg.augment.view1.hue) == (3, 12, 0.05)
    assert cfg.train.batch_size == RunConfig().train.batch_size


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.stepz=3", "unknown config key 'train.stepz'"),
        ("train.steps=1.5", "train.steps: expected int"),
        ("train.steps=true", "train.steps: expected int"),
        ("augment.view1.mean=[1, 2]", "augment.view1.mean: expected 3 values"),
        ("train=3", "train: expected a table"),
        ("nokey", "expected section.key=value"),
    ],
)
def test_bad_overrides_are_rejected_with_the_key(override, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        config.apply_overrides(RunConfig(), [override])


def test_override_types():
    cfg = config.apply_overrides(
        RunConfig(), ["train.lr_per_256=1", "data.generated=gen.npz", "name=null", "compile=true"]
    )
    assert cfg.train.lr_per_256 == 1.0 and isinstance(cfg.train.lr_per_256, float)
    assert cfg.data.generated == "gen.npz" and cfg.name is None and cfg.compile is True


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"train": {"lr": 0.1}}))
    with pytest.raises(ValueError, match=r"bad\.json: unknown config key 'train\.lr'"):
        config.load(path)


@pytest.mark.parametrize(
    ("method", "optimizer", "lr", "wd", "proj_out", "views"),
    [
        ("simclr", "lars", 0.2, 1e-4, 256, "symmetric"),
        ("mocov2", "sgd", 0.15, 1e-4, 256, "symmetric_weak"),
        ("byol", "lars", 0.5, 1e-5, 256, "asymmetric"),
        ("barlow", "lars", 0.15, 1e-4, 2048, "asymmetric"),
    ],
)
def test_method_presets_carry_the_paper_recipe(method, optimizer, lr, wd, proj_out, views):
    cfg = methods.preset(method)
    assert cfg.train.method == method
    assert (cfg.train.optimizer, cfg.train.lr_per_256, cfg.train.weight_decay) == (optimizer, lr, wd)
    assert cfg.model.proj_out == proj_out
    assert (cfg.augment.view1, cfg.augment.view2) == augment.PRESETS[views]


def test_resolve_priority_preset_file_flags_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train": {"method": "byol", "steps": 50, "lr_per_256": 0.9}}))
    cfg = methods.resolve_config(str(path), ["train.steps=60"], augment_views="0.5")
    assert cfg.train.method == "byol"
    assert cfg.train.weight_decay == 1e-5  # from the BYOL preset
    assert cfg.train.lr_per_256 == 0.9  # the file beats the preset
    assert cfg.train.steps == 60  # the override beats the file
    assert (cfg.augment.view1, cfg.augment.view2) == augment.at_strength(0.5)


def test_written_config_is_read_back_unchanged(tmp_path):
    cfg = methods.resolve_config(None, ["train.steps=5"], method="mocov2")
    config.save(cfg, tmp_path / "c.json")
    assert methods.resolve_config(str(tmp_path / "c.json")) == cfg
