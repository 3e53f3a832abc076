"""Tests for adainf.data: every loader on tiny files built in tmp_path, and every documented error."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adainf import data
from adainf.data import DataError, ImageSet

# --------------------------------------------------------------------------------------------------
# helpers


def _images(n: int, h: int = 4, w: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def _cifar_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _planes(img: np.ndarray) -> bytes:
    """One image in the CIFAR record layout, written out from the spec: R plane, G plane, B plane."""
    return img[:, :, 0].tobytes() + img[:, :, 1].tobytes() + img[:, :, 2].tobytes()


def _write_bin(path: Path, imgs: np.ndarray, labels: list[int], coarse: list[int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = bytearray()
    for i, img in enumerate(imgs):
        if coarse is not None:
            out.append(coarse[i])
        out.append(labels[i])
        out += _planes(img)
    path.write_bytes(bytes(out))


def _short(b: bytes) -> bytes:
    """A Python 2 str in a pickle: SHORT_BINSTRING or BINSTRING."""
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _py2_batch(flat: np.ndarray, labels: list[int], label_key: bytes) -> bytes:
    """A python-version batch byte for byte as Python 2 and numpy 1 pickled it (protocol 2).

    Python 3 cannot write this (its protocol 2 routes bytes through _codecs.encode), so it is spelled out:
    {'data': ndarray via numpy.core.multiarray._reconstruct, label_key: [ints]}.
    """
    n = flat.shape[0]
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85" + _short(b"b") + b"\x87R"
        + b"(K\x01M" + struct.pack("<H", n) + b"M" + struct.pack("<H", 3072) + b"\x86"
        + b"cnumpy\ndtype\nq\x03" + _short(b"u1") + b"K\x00K\x01\x87R(K\x03" + _short(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + _short(flat.tobytes()) + b"tb"
    )  # fmt: skip
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return b"\x80\x02}(" + _short(b"data") + array + _short(label_key) + label_list + b"u."


def _write_py(path: Path, imgs: np.ndarray, labels: list[int], label_key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = np.stack([np.frombuffer(_planes(img), dtype=np.uint8) for img in imgs])
    path.write_bytes(_py2_batch(flat, labels, label_key))


def _fake_cifar10(root: Path, kind: str, label_offset: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Two images per batch file; returns what each split should load as."""
    folder = root / ("cifar-10-batches-bin" if kind == "binary" else "cifar-10-batches-py")
    expected: dict[str, tuple[list[np.ndarray], list[int]]] = {"train": ([], []), "test": ([], [])}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        imgs = _cifar_images(2, seed=k)
        labels = [(2 * k + label_offset) % 10, (2 * k + 1 + label_offset) % 10]
        if kind == "binary":
            _write_bin(folder / f"{name}.bin", imgs, labels)
        else:
            _write_py(folder / name, imgs, labels, b"labels")
        split = "test" if name == "test_batch" else "train"
        expected[split][0].append(imgs)
        expected[split][1].extend(labels)
    return {s: (np.concatenate(i), lab) for s, (i, lab) in expected.items()}


def _tar_folder(src: Path, archive: Path, arcname: str) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=arcname)


def _save_raw_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------------------------------------------------
# ImageSet


def test_to_tensor_is_contiguous_uint8_nchw_with_the_same_pixels():
    imgs = _images(3)
    t = ImageSet(imgs, np.array([0, 1, -1]), 2, "mem").to_tensor("cpu")
    assert t.dtype == torch.uint8 and t.shape == (3, 3, 4, 5) and t.is_contiguous()
    assert t[1, 2, 3, 4].item() == imgs[1, 3, 4, 2]
    assert np.array_equal(t.permute(0, 2, 3, 1).numpy(), imgs)


def test_imageset_counts_subset_and_repr():
    ds = ImageSet(_images(4), np.array([0, -1, 1, -1], dtype=np.int32), 2, "mem")
    assert ds.labels.dtype == np.int64
    assert len(ds) == 4 and ds.n_labeled == 2
    sub = ds.subset([2, 0])
    assert np.array_equal(sub.images, ds.images[[2, 0]]) and sub.labels.tolist() == [1, 0]
    assert sub.num_classes == 2 and "n=4" in repr(ds)


def test_imageset_validates_on_construction():
    with pytest.raises(DataError, match=r"^mem: images have dtype float32"):
        ImageSet(_images(2).astype(np.float32), np.zeros(2, np.int64), None, "mem")
    with pytest.raises(DataError, match="label 2 at index 1 is out of range for 2 classes"):
        ImageSet(_images(2), np.array([0, 2]), 2, "mem")
    with pytest.raises(DataError, match="3 class names given for 2 classes"):
        ImageSet(_images(2), np.array([0, 1]), 2, "mem", ("a", "b", "c"))


def test_class_name_constants():
    assert len(data.CIFAR10_CLASSES) == 10 and data.CIFAR10_CLASSES[0] == "airplane"
    assert len(set(data.CIFAR100_CLASSES)) == 100 and list(data.CIFAR100_CLASSES) == sorted(
        data.CIFAR100_CLASSES
    )


# --------------------------------------------------------------------------------------------------
# npz


def test_npz_round_trip_keeps_pixels_and_unlabeled(tmp_path):
    imgs, labels = _images(5), np.array([0, 3, -1, 2, -1])
    path = data.save_npz(tmp_path / "set.npz", imgs, labels)
    ds = data.load_npz(path)
    assert np.array_equal(ds.images, imgs) and ds.labels.tolist() == labels.tolist()
    assert ds.labels.dtype == np.int64 and ds.images.flags.c_contiguous
    assert ds.num_classes == 4 and ds.n_labeled == 3 and ds.source == str(path)


def test_npz_all_unlabeled_has_no_num_classes(tmp_path):
    path = data.save_npz(tmp_path / "gen.npz", _images(3), np.full(3, -1), compress=False)
    ds = data.load_npz(path)
    assert ds.num_classes is None and ds.n_labeled == 0


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int16])
def test_npz_integer_labels_are_cast_to_int64(tmp_path, dtype):
    path = _save_raw_npz(tmp_path / "a.npz", image=_images(2), label=np.array([1, 0], dtype=dtype))
    ds = data.load_npz(path)
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [1, 0]


def test_npz_accepts_unambiguous_channels_first(tmp_path):
    imgs = _images(2, h=6, w=7)
    path = _save_raw_npz(
        tmp_path / "nchw.npz", image=imgs.transpose(0, 3, 1, 2).copy(), label=np.array([0, 1])
    )
    ds = data.load_npz(path)
    assert np.array_equal(ds.images, imgs) and ds.images.flags.c_contiguous


def test_npz_channels_last_wins_when_both_axes_have_three(tmp_path):
    imgs = _images(2, h=3, w=3)
    ds = data.load_npz(_save_raw_npz(tmp_path / "a.npz", image=imgs, label=np.array([0, 1])))
    assert np.array_equal(ds.images, imgs)


def test_npz_missing_key_names_file_key_and_found_keys(tmp_path):
    path = _save_raw_npz(tmp_path / "cifar10-5k.npz", image=_images(2), labels=np.array([0, 1]))
    with pytest.raises(DataError) as err:
        data.load_npz(path)
    assert "cifar10-5k.npz: key 'label' missing (found: image, labels)" in str(err.value)


@pytest.mark.parametrize(
    ("image", "label", "message"),
    [
        (_images(2).astype(np.float32), np.array([0, 1]), "images have dtype float32; expected uint8"),
        (_images(2), np.array([0.0, 1.0]), "labels have dtype float64; expected integers"),
        (_images(2)[:, :, :, 0], np.array([0, 1]), "images have rank 3"),
        (_images(2), np.array([[0], [1]]), "labels have rank 2"),
        (_images(2)[..., :1], np.array([0, 1]), "images have 1 channels on the last axis"),
        (np.concatenate([_images(2), _images(2)[..., :1]], axis=3), np.array([0, 1]), "4 channels"),
        (np.zeros((2, 1, 8, 8), np.uint8), np.array([0, 1]), "8 channels on the last axis"),
        (_images(2), np.array([0, -2]), "label -2 at index 1 is below -1"),
        (_images(3), np.array([0, 1]), "3 images but 2 labels"),
        (np.zeros((0, 4, 5, 3), np.uint8), np.zeros(0, np.int64), "the set is empty"),
    ],
    ids=["float-images", "float-labels", "rank3", "labels-rank2", "1-channel", "4-channels", "nchw-gray",
         "label-below-minus-one", "length-mismatch", "empty"],
)  # fmt: skip
def test_npz_invalid_contents_are_rejected_naming_the_file(tmp_path, image, label, message):
    path = _save_raw_npz(tmp_path / "bad.npz", image=image, label=label)
    with pytest.raises(DataError) as err:
        data.load_npz(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_npz_label_at_or_above_known_num_classes_is_rejected(tmp_path):
    path = _save_raw_npz(tmp_path / "a.npz", image=_images(2), label=np.array([0, 10]))
    assert data.load_npz(path).num_classes == 11
    with pytest.raises(DataError, match="label 10 at index 1 is out of range for 10 classes"):
        data.load_npz(path, num_classes=10)


def test_npz_truncated_random_and_npy_files_are_rejected(tmp_path):
    good = data.save_npz(tmp_path / "good.npz", _images(50), np.zeros(50, np.int64))
    raw = good.read_bytes()
    cases = {
        "half.npz": raw[: len(raw) // 2],
        "noise.npz": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "empty.npz": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=rf"^{tmp_path / name}: not a readable npz archive"):
            data.load_npz(tmp_path / name)
    np.save(tmp_path / "single.npy", _images(2))
    with pytest.raises(DataError, match="holds a single .npy array"):
        data.load_npz(tmp_path / "single.npy")
    with pytest.raises(DataError, match="file not found"):
        data.load_npz(tmp_path / "absent.npz")


def test_npz_with_corrupt_member_data_is_rejected(tmp_path):
    path = data.save_npz(tmp_path / "c.npz", _images(50), np.zeros(50, np.int64))
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 3  # inside the compressed image member; the zip directory stays intact
    raw[mid : mid + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"c\.npz: member 'image' cannot be read"):
        data.load_npz(path)


def test_npz_object_arrays_are_not_unpickled(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, image=_images(1), label=np.array([object()], dtype=object))
    with pytest.raises(
        DataError, match=r"obj\.npz: member 'label' cannot be read \(ValueError: Object arrays"
    ):
        data.load_npz(path)


def test_save_npz_failure_leaves_old_file_and_no_temporaries(tmp_path, monkeypatch):
    path = data.save_npz(tmp_path / "out.npz", _images(2), np.array([0, 1]))
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        data.save_npz(path, _images(4), np.zeros(4, np.int64))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]


def test_save_npz_validates_before_writing(tmp_path):
    with pytest.raises(DataError, match="new.npz: images have dtype float64"):
        data.save_npz(tmp_path / "new.npz", np.zeros((2, 4, 4, 3)), np.array([0, 1]))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# CIFAR


def test_cifar_record_layout_is_r_plane_g_plane_b_plane():
    img = np.zeros((32, 32, 3), np.uint8)
    img[0, 1, 0] = 11  # red of the pixel at row 0, column 1
    img[1, 0, 1] = 22  # green of the pixel at row 1, column 0
    img[31, 31, 2] = 33  # blue of the last pixel
    rec = _planes(img)
    assert rec[1] == 11 and rec[1024 + 32] == 22 and rec[3071] == 33


@pytest.mark.parametrize("kind", ["binary", "python"])
def test_cifar10_round_trips_pixels_and_labels(tmp_path, kind):
    expected = _fake_cifar10(tmp_path, kind)
    for split in ("train", "test"):
        ds = data.load_cifar("cifar10", tmp_path, split, download=False)
        imgs, labels = expected[split]
        assert ds.images.shape == (len(labels), 32, 32, 3) and ds.images.flags.c_contiguous
        assert np.array_equal(ds.images, imgs)
        assert ds.labels.tolist() == labels
        assert ds.num_classes == 10 and ds.classes == data.CIFAR10_CLASSES
        assert ds.source.startswith(f"cifar10/{split}:")
    assert len(data.load_cifar("cifar10", tmp_path, "train", download=False)) == 10


def test_cifar100_binary_uses_fine_labels(tmp_path):
    imgs = _cifar_images(3)
    folder = tmp_path / "cifar-100-binary"
    _write_bin(folder / "train.bin", imgs, labels=[99, 0, 57], coarse=[1, 2, 3])
    _write_bin(folder / "test.bin", imgs[:1], labels=[42], coarse=[19])
    ds = data.load_cifar("cifar100", tmp_path, "train", download=False)
    assert ds.labels.tolist() == [99, 0, 57] and np.array_equal(ds.images, imgs)
    assert ds.num_classes == 100 and ds.classes[99] == "worm"
    assert data.load_cifar("cifar100", tmp_path, "test", download=False).labels.tolist() == [42]


def test_cifar100_python_uses_fine_labels(tmp_path):
    imgs = _cifar_images(2)
    folder = tmp_path / "cifar-100-python"
    for name in ("train", "test"):
        folder.mkdir(exist_ok=True)
        flat = np.stack([np.frombuffer(_planes(i), np.uint8) for i in imgs])
        batch = {b"coarse_labels": [3, 4], b"fine_labels": [77, 5], b"data": flat}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))  # numpy 2 names, str-free keys
    ds = data.load_cifar("cifar100", tmp_path, "test", download=False)
    assert ds.labels.tolist() == [77, 5] and np.array_equal(ds.images, imgs) and ds.num_classes == 100


def test_cifar_prefers_binary_when_both_present(tmp_path):
    binary = _fake_cifar10(tmp_path, "binary", label_offset=0)
    _fake_cifar10(tmp_path, "python", label_offset=3)
    ds = data.load_cifar("cifar10", tmp_path, "train", download=False)
    assert ds.labels.tolist() == binary["train"][1] and "cifar-10-batches-bin" in ds.source


def test_cifar_root_may_be_the_extracted_folder(tmp_path):
    expected = _fake_cifar10(tmp_path, "binary")
    ds = data.load_cifar("cifar10", tmp_path / "cifar-10-batches-bin", "test", download=False)
    assert ds.labels.tolist() == expected["test"][1]


def test_cifar_truncated_binary_batch_is_named(tmp_path):
    _fake_cifar10(tmp_path, "binary")
    batch = tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-100])
    with pytest.raises(
        DataError, match=r"data_batch_3\.bin: size 6046 bytes is not a positive multiple of the 3073"
    ):
        data.load_cifar("cifar10", tmp_path, "train", download=False)


def test_cifar_out_of_range_label_is_named(tmp_path):
    _fake_cifar10(tmp_path, "binary")
    _write_bin(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", _cifar_images(2), [3, 10])
    with pytest.raises(
        DataError, match=r"test_batch\.bin: label 10 of record 1 is out of range for 10 classes"
    ):
        data.load_cifar("cifar10", tmp_path, "test", download=False)


def test_cifar_missing_batch_file_is_named(tmp_path):
    _fake_cifar10(tmp_path, "python")
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DataError, match="batch file data_batch_4 missing"):
        data.load_cifar("cifar10", tmp_path, "train", download=False)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    expected = _fake_cifar10(tmp_path, "python")
    marker = tmp_path / "pwned.txt"
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"evil": _Exploit(marker)}
    # Protocol 3 stores bytes natively, so the first global refused is the exploit itself.
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(batch, protocol=3))
    with pytest.raises(DataError) as err:
        data.load_cifar("cifar10", tmp_path, "test", download=False)
    msg = str(err.value)
    assert f"test_batch: refusing to unpickle the global {os.system.__module__}.system" in msg
    assert not marker.exists()
    # The train batches are untouched and still load.
    assert (
        data.load_cifar("cifar10", tmp_path, "train", download=False).labels.tolist() == expected["train"][1]
    )


def test_builtins_eval_pickle_is_refused(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    payload = b"cbuiltins\neval\n(V1+1\ntR."  # protocol-0 pickle of eval("1+1")
    (folder / "test").write_bytes(payload)
    (folder / "train").write_bytes(payload)
    with pytest.raises(DataError, match="refusing to unpickle the global builtins.eval"):
        data.load_cifar("cifar100", tmp_path, "test", download=False)


def test_cifar_tarball_in_root_is_extracted_and_loaded(tmp_path):
    staging, root = tmp_path / "staging", tmp_path / "root"
    expected = _fake_cifar10(staging, "binary")
    root.mkdir()
    _tar_folder(staging / "cifar-10-batches-bin", root / "cifar-10-binary.tar.gz", "cifar-10-batches-bin")
    ds = data.load_cifar("cifar10", root, "train", download=False)
    assert np.array_equal(ds.images, expected["train"][0])
    assert (root / "cifar-10-batches-bin" / "test_batch.bin").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]


def test_cifar_tarball_with_escaping_member_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(
        DataError, match=r"cifar-10-python\.tar\.gz: refusing to extract member '\.\./evil\.txt'"
    ):
        data.load_cifar("cifar10", root, "train", download=False)
    assert not (tmp_path / "evil.txt").exists()
    assert [p.name for p in root.iterdir()] == ["cifar-10-python.tar.gz"]


def test_cifar_corrupt_tarball_is_named_and_leaves_nothing(tmp_path):
    (tmp_path / "cifar-100-binary.tar.gz").write_bytes(b"\x1f\x8b" + bytes(200))
    with pytest.raises(DataError, match=r"cifar-100-binary\.tar\.gz: cannot be extracted"):
        data.load_cifar("cifar100", tmp_path, "train", download=False)
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-100-binary.tar.gz"]


def test_cifar_offline_download_says_which_file_goes_where(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as err:
        data.load_cifar("cifar10", tmp_path / "data", "train", download=True)
    msg = str(err.value)
    assert "download from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz failed" in msg
    assert "put cifar-10-binary.tar.gz (from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in msg
    assert "c32a1d4ab5d03f1284b67883e8d87530" in msg and f"into {tmp_path / 'data'}" in msg
    assert "cifar-10-batches-bin/" in msg
    assert list((tmp_path / "data").iterdir()) == []


def test_cifar_absent_without_download_says_which_file_goes_where(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)
    with pytest.raises(DataError) as err:
        data.load_cifar("cifar100", tmp_path, "test", download=False)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path}: no cifar100 release found")
    assert "cifar-100-binary.tar.gz" in msg and "03b5dce01913d631647c71ecec9e9cb8" in msg
    assert "cifar-100-python.tar.gz" in msg and "eb9058c3a382ffc7106e4002c42a8d85" in msg


class _FakeResponse(io.BytesIO):
    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.headers = {"Content-Length": str(len(content))}


def test_download_checksum_mismatch_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"not the archive"))
    with pytest.raises(DataError) as err:
        data.load_cifar("cifar10", tmp_path, "train", download=True)
    msg = str(err.value)
    assert (
        "cifar-10-binary.tar.gz: downloaded file" in msg
        and "expected c32a1d4ab5d03f1284b67883e8d87530" in msg
    )
    assert f"into {tmp_path}" in msg
    assert list(tmp_path.iterdir()) == []


def test_download_with_matching_checksum_is_extracted_and_loaded(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    expected = _fake_cifar10(staging, "binary")
    _tar_folder(staging / "cifar-10-batches-bin", tmp_path / "fake.tar.gz", "cifar-10-batches-bin")
    content = (tmp_path / "fake.tar.gz").read_bytes()
    # The release table is frozen: swap in an entry whose md5 is that of the fake archive.
    patched = dataclasses.replace(data._RELEASES["cifar10"][0], md5=hashlib.md5(content).hexdigest())
    monkeypatch.setitem(data._RELEASES, "cifar10", (patched, data._RELEASES["cifar10"][1]))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(content))
    root = tmp_path / "root"
    ds = data.load_cifar("cifar10", root, "test", download=True)
    assert np.array_equal(ds.images, expected["test"][0])
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]


# --------------------------------------------------------------------------------------------------
# image folders


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_red_png_stays_red_in_the_npz(tmp_path):
    red = np.zeros((6, 6, 3), np.uint8)
    red[..., 0] = 255
    _png(tmp_path / "imgs" / "red.png", red)
    data.convert_image_folder(tmp_path / "imgs", tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as f:
        img = f["image"][0]
        assert f["label"].tolist() == [-1]
    assert (img[..., 0] == 255).all() and (img[..., 1:] == 0).all()


def test_class_subfolders_give_sorted_labels_and_rgb(tmp_path):
    root = tmp_path / "imgs"
    rgb = _images(1, h=5, w=5)[0]
    _png(root / "dog" / "b.png", rgb)
    orange = np.zeros((5, 5, 3), np.uint8) + np.array([200, 100, 30], np.uint8)
    Image.fromarray(orange).save(root / "dog" / "A.JPG", quality=95)
    _png(root / "cat" / "gray.PNG", np.full((5, 5), 77, np.uint8))
    Image.fromarray(np.dstack([rgb, np.full((5, 5), 9, np.uint8)])).save(root / "cat" / "rgba.png")
    (root / "cat" / "sub").mkdir()
    Image.fromarray(rgb).convert("P").save(root / "cat" / "sub" / "pal.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    ds = data.load_image_folder(root)
    assert ds.classes == ("cat", "dog") and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    assert ds.images.shape == (5, 5, 5, 3)
    assert (ds.images[0] == 77).all()  # gray.PNG sorts first: 'g' < 'r' < 's'
    assert np.array_equal(ds.images[1], rgb)  # RGBA loses alpha, keeps colour
    assert np.array_equal(ds.images[4], rgb)  # b.png, after A.JPG
    assert np.abs(ds.images[3].astype(int) - orange).max() <= 3  # JPEG: lossy, but still orange, not BGR


def test_flat_folder_is_unlabeled_and_sorted(tmp_path):
    imgs = _images(3, h=4, w=4)
    for i, name in enumerate(["c.png", "a.png", "b.png"]):
        _png(tmp_path / name, imgs[i])
    ds = data.load_image_folder(tmp_path)
    assert ds.labels.tolist() == [-1, -1, -1] and ds.num_classes is None and ds.classes is None
    assert np.array_equal(ds.images, imgs[[1, 2, 0]])


def test_folder_with_mixed_sizes_names_the_offender_and_both_sizes(tmp_path):
    _png(tmp_path / "a.png", _images(1, h=4, w=4)[0])
    _png(tmp_path / "b.png", _images(1, h=4, w=6)[0])
    with pytest.raises(DataError, match=r"b\.png: size 6x4 differs from 4x4 of a\.png"):
        data.load_image_folder(tmp_path)


def test_folder_errors_empty_undecodable_mixed_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=rf"^{empty}: no images"):
        data.load_image_folder(empty)
    broken = tmp_path / "broken"
    _png(broken / "a.png", _images(1)[0])
    (broken / "b.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(DataError, match=r"b\.jpg: cannot be decoded as an image"):
        data.load_image_folder(broken)
    mixed = tmp_path / "mixed"
    _png(mixed / "a.png", _images(1)[0])
    _png(mixed / "cls" / "b.png", _images(1)[0])
    with pytest.raises(DataError, match="holds images both directly and in sub-folders"):
        data.load_image_folder(mixed)
    classes = tmp_path / "classes"
    _png(classes / "cat" / "a.png", _images(1)[0])
    (classes / "dog").mkdir()
    with pytest.raises(DataError, match=r"dog: class folder holds no images"):
        data.load_image_folder(classes)


# --------------------------------------------------------------------------------------------------
# bundled sample, dispatcher, describe


def test_bundled_sample_is_balanced_cifar10():
    train, test = data.load_bundled("train"), data.load_bundled("test")
    assert train.images.shape == (2000, 32, 32, 3) and test.images.shape == (1000, 32, 32, 3)
    assert (
        np.bincount(train.labels).tolist() == [200] * 10 and np.bincount(test.labels).tolist() == [100] * 10
    )
    assert train.num_classes == 10 and train.source == "bundled:cifar10-mini/train"
    # RGB, not BGR: natural images (and CIFAR's published means) have more red than blue.
    mean = train.images.reshape(-1, 3).mean(axis=0)
    assert mean[0] > mean[2] + 5


def test_load_dispatches_by_name_and_path(tmp_path, monkeypatch):
    assert data.load().source == "bundled:cifar10-mini/train"
    assert data.load("bundled", split="test").source == "bundled:cifar10-mini/test"
    npz = data.save_npz(tmp_path / "gen.npz", _images(2), np.full(2, -1))
    assert data.load(str(npz)).source == str(npz) and data.load(npz, split="test").n_labeled == 0
    _png(tmp_path / "folder" / "a.png", _images(1)[0])
    assert len(data.load(str(tmp_path / "folder"))) == 1
    expected = _fake_cifar10(tmp_path / "cifar", "binary")
    assert (
        data.load("CIFAR10", split="test", root=tmp_path / "cifar", download=False).labels.tolist()
        == expected["test"][1]
    )
    monkeypatch.setenv("ADAINF_DATA", str(tmp_path / "cifar"))
    assert data.default_root("cifar10") == tmp_path / "cifar"
    assert len(data.load("cifar10", download=False)) == 10


def test_load_rejects_unknown_forms_listing_accepted_ones(tmp_path):
    with pytest.raises(DataError, match=r"^imagenet: not a known dataset name.*'cifar10', 'cifar100'.*\.npz"):
        data.load("imagenet")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError, match=r"x\.csv: unsupported file type '\.csv'"):
        data.load(str(tmp_path / "x.csv"))
    with pytest.raises(DataError, match="unknown split"):
        data.load(None, split="val")


def test_default_root_without_env_is_the_user_cache(monkeypatch):
    monkeypatch.delenv("ADAINF_DATA", raising=False)
    assert data.default_root("cifar100") == Path.home() / ".cache" / "adainf" / "cifar100"


def test_describe_is_json_and_correct():
    imgs = np.zeros((4, 2, 2, 3), np.uint8)
    imgs[..., 0] = 100
    imgs[0, ..., 2] = 40
    d = data.describe(ImageSet(imgs, np.array([2, 2, -1, 0]), 3, "mem", ("a", "b", "c")))
    assert json.loads(json.dumps(d)) == d
    assert d["n"] == 4 and d["shape"] == [2, 2, 3] and d["dtype"] == "uint8"
    assert d["n_labeled"] == 3 and d["n_unlabeled"] == 1 and d["class_counts"] == [1, 0, 2]
    assert d["bytes"] == imgs.nbytes + 4 * 8 and d["classes"] == ["a", "b", "c"]
    assert d["mean_pixel"] == pytest.approx([100.0, 0.0, 10.0])
    unlabeled = data.describe(ImageSet(imgs, np.full(4, -1), None, "gen"))
    assert unlabeled["class_counts"] == [] and unlabeled["num_classes"] is None
