"""The CLI wires arguments to the library: JSON on stdout, one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from adainf import data
from adainf.cli import main


def test_data_info_json_on_bundled_sample(capsys):
    assert main(["data", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    bundled = data.load_bundled("train")
    assert info["n"] == len(bundled)
    assert info["num_classes"] == 10
    assert info["class_counts"] == np.bincount(bundled.labels, minlength=10).tolist()


def test_data_info_test_split_differs(capsys):
    main(["data", "info", "--split", "test", "--json"])
    assert json.loads(capsys.readouterr().out)["n"] == len(data.load_bundled("test"))


def test_convert_writes_rgb_npz(tmp_path, capsys):
    folder = tmp_path / "pngs"
    folder.mkdir()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(folder / "a.png")
    Image.new("RGB", (8, 8), (0, 0, 255)).save(folder / "b.png")
    out = tmp_path / "gen.npz"
    assert main(["convert", str(folder), str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2
    ds = data.load_npz(out)
    assert ds.images[0, 0, 0].tolist() == [255, 0, 0]  # red stays red (not BGR)
    assert ds.labels.tolist() == [-1, -1]


def test_bad_file_is_one_line_error_naming_it(tmp_path, capsys):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip file at all")
    assert main(["data", "info", "--data", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.npz" in err and err.count("\n") == 0 and "Traceback" not in err


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_train_then_eval_from_the_command_line(tmp_path, capsys):
    args = ["train", "--backbone", "convnet", "--width", "4", "--steps", "2", "--batch", "8", "--device", "cpu",
            "--precision", "fp32", "--out-dir", str(tmp_path), "--name", "r", "--no-progress", "--json",
            "model.proj_hidden=16", "model.proj_out=8", "eval_every=0"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 2 and out["run_dir"] == str(tmp_path / "r")
    assert main(["eval", str(tmp_path / "r"), "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 2 and result["n_train"] == 2000 and result["n_test"] == 1000
    assert 0 <= result["knn_top1"] <= 1 and 0 <= result["offline_linear_top1"] <= 1


def test_train_rejects_unknown_override(capsys):
    assert main(["train", "train.lr=0.1", "--no-progress"]) == 2
    assert "unknown config key 'train.lr'" in capsys.readouterr().err


def test_nan_loss_exits_3_with_one_message(tmp_path, capsys, monkeypatch):
    from adainf import losses

    real = losses.nt_xent_loss
    monkeypatch.setattr(losses, "nt_xent_loss", lambda z1, z2, **kw: (real(z1, z2, **kw)[0] * float("inf"), {}))
    args = ["train", "--backbone", "convnet", "--width", "4", "--steps", "2", "--batch", "8", "--device", "cpu",
            "--out-dir", str(tmp_path), "--name", "r", "--no-progress", "model.proj_hidden=16",
            "model.proj_out=8", "eval_every=0"]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "training stopped: loss became" in err and "Traceback" not in err
