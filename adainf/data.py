"""Datasets as plain arrays: uint8 N×H×W×3 RGB images and int64 labels, -1 meaning unlabeled.

Four sources, one type (`ImageSet`): AdaInf-style npz files (keys ``image`` and ``label``), the official
CIFAR-10/100 releases (binary or python version, found on disk or downloaded and checked), folders of
PNG/JPEG images, and a bundled 3,000-image CIFAR-10 sample for the default run. `load` picks the source
from one string; it is what the CLI and the trainer call. Every problem with an input raises `DataError`,
whose message names the file or folder and says what is wrong.

Images stay uint8 until augmentation (`ImageSet.to_tensor` keeps them so); this module never decodes to
float, so a 50k-image CIFAR set costs 150 MB, not 600.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import importlib.resources
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
"""CIFAR-10 class names, indexed by label (from the release's batches.meta)."""

CIFAR100_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle",
    "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
    "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon",
    "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail",
    "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip
"""CIFAR-100 fine class names, indexed by fine label (from the release's meta file)."""

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg")
"""File name endings `load_image_folder` reads, compared case-insensitively."""

DATA_ENV_VAR = "ADAINF_DATA"
"""Environment variable naming the folder that holds the CIFAR releases (see `default_root`)."""

SPLITS: tuple[str, ...] = ("train", "test")

BUNDLED_FILE = "cifar10-mini.npz"
_BUNDLED_SCRIPT = "experiments/make_bundled_sample.py"

_DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation: long enough for a slow mirror, short when offline


class DataError(ValueError):
    """An input dataset is missing, malformed or unsafe; the message names the file or folder."""


# --------------------------------------------------------------------------------------------------
# The one type every loader returns


@dataclass(frozen=True, eq=False, repr=False)
class ImageSet:
    """Images with labels, validated on construction.

    Attributes:
        images: (N, H, W, 3) uint8 RGB.
        labels: (N,) int64; -1 marks an unlabeled (e.g. generated) image. Other integer dtypes are cast.
        num_classes: number of classes when known, else None; labels must then be below it.
        source: where the data came from (a path, or e.g. "bundled:cifar10-mini/train"); error messages
            name it.
        classes: class names indexed by label, when known.

    The dataclass is frozen but numpy arrays are not: treat `images` and `labels` as read-only, and use
    `subset` to derive new sets.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int | None
    source: str
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        labels = _validate(self.images, self.labels, self.num_classes, self.source)
        object.__setattr__(self, "labels", labels)
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
            if self.num_classes is not None and len(self.classes) != self.num_classes:
                raise DataError(
                    f"{self.source}: {len(self.classes)} class names given for {self.num_classes} classes"
                )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"ImageSet(source={self.source!r}, n={len(self)}, shape={tuple(self.images.shape[1:])}, "
            f"num_classes={self.num_classes}, n_labeled={self.n_labeled})"
        )

    @property
    def n_labeled(self) -> int:
        """Number of images with a label (label >= 0)."""
        return int(np.count_nonzero(self.labels >= 0))

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """Returns the images at `indices` (integer indices or a boolean mask), as a new, copied set."""
        idx = np.asarray(indices)
        return dataclasses.replace(self, images=self.images[idx], labels=self.labels[idx])

    def to_tensor(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """Returns the images as a contiguous uint8 tensor (N, 3, H, W) on `device`.

        The copy to the device happens in the on-disk N×H×W×3 layout and the transpose on the device,
        where it is cheapest; on the CPU this makes exactly one copy.
        """
        import torch  # here, not at the top: loading and validating data should not pay for torch

        images = self.images if self.images.flags.c_contiguous else np.ascontiguousarray(self.images)
        return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).contiguous()


def _validate(images: Any, labels: Any, num_classes: int | None, where: str) -> np.ndarray:
    """Checks an (images, labels) pair against the ImageSet contract; returns the labels as int64."""
    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
        raise DataError(f"{where}: images and labels must be numpy arrays")
    if images.dtype != np.uint8:
        raise DataError(f"{where}: images have dtype {images.dtype}; expected uint8 (0-255)")
    if images.ndim != 4:
        raise DataError(
            f"{where}: images have rank {images.ndim} (shape {images.shape}); expected 4 (N, H, W, 3)"
        )
    if images.shape[3] != 3:
        raise DataError(
            f"{where}: images have {images.shape[3]} channels on the last axis (shape {images.shape}); "
            "expected 3 (RGB)"
        )
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: labels have dtype {labels.dtype}; expected integers (-1 = unlabeled)")
    if labels.ndim != 1:
        raise DataError(f"{where}: labels have rank {labels.ndim} (shape {labels.shape}); expected 1 (N,)")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{where}: {images.shape[0]} images but {labels.shape[0]} labels")
    if images.shape[0] == 0:
        raise DataError(f"{where}: the set is empty (0 images)")
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{where}: images have zero size (shape {images.shape})")
    if num_classes is not None and (isinstance(num_classes, bool) or int(num_classes) < 1):
        raise DataError(f"{where}: num_classes must be a positive integer, got {num_classes!r}")
    low = int(labels.min())
    if low < -1:
        at = int(np.argmin(labels))
        raise DataError(f"{where}: label {low} at index {at} is below -1 (-1 marks unlabeled images)")
    if num_classes is not None:
        high = int(labels.max())
        if high >= num_classes:
            at = int(np.argmax(labels))
            raise DataError(f"{where}: label {high} at index {at} is out of range for {num_classes} classes")
    # copy=False: already-int64 labels (the common case) are not copied.
    return labels.astype(np.int64, copy=False)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"split {split!r}: unknown split; expected one of {', '.join(SPLITS)}")


# --------------------------------------------------------------------------------------------------
# AdaInf-style npz files


def load_npz(path: str | os.PathLike[str], *, num_classes: int | None = None) -> ImageSet:
    """Loads an AdaInf-style npz: ``image`` (N, H, W, 3) uint8 RGB and ``label`` (N,) integers.

    Label -1 marks unlabeled (generated) images; any integer dtype is accepted and cast to int64. An image
    array in N×3×H×W layout is accepted and transposed, but only when that reading is unambiguous: axis 1
    has 3 entries and the last axis has neither 1, 3 nor 4 (which would mean channels-last). Extra keys
    are ignored. Nothing is pickled (``allow_pickle=False``).

    Args:
        path: the .npz file.
        num_classes: the number of classes, when known; labels must be below it. When None it is
            inferred as max(label) + 1 (None if every image is unlabeled), which undercounts a set that
            happens to miss its last classes.

    Returns:
        The images and labels; ``source`` is `path`.

    Raises:
        DataError: file missing, unreadable (truncated, corrupt, not an npz), a key missing, or arrays
            breaking the contract (dtype, rank, channels, label range, lengths, empty).
    """
    path = Path(path)
    arrays = _read_npz(path, ("image", "label"))
    images, labels = arrays["image"], arrays["label"]
    if images.ndim == 4 and images.shape[1] == 3 and images.shape[3] not in (1, 3, 4):
        # Channels-first; the transpose costs one copy, which channels-last files never pay.
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    if num_classes is None and _is_int_vector(labels) and labels.size and labels.max() >= 0:
        num_classes = int(labels.max()) + 1
    return ImageSet(images=images, labels=labels, num_classes=num_classes, source=str(path))


def _is_int_vector(a: Any) -> bool:
    return (
        isinstance(a, np.ndarray)
        and a.ndim == 1
        and a.dtype != np.bool_
        and np.issubdtype(a.dtype, np.integer)
    )


def _read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Reads `keys` from an npz archive, turning every way the file can be bad into a DataError."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable npz archive (truncated or corrupt?): {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single .npy array, not an npz archive with keys {', '.join(keys)}")
    with archive:
        missing = [k for k in keys if k not in archive.files]
        if missing:
            what = "key" if len(missing) == 1 else "keys"
            raise DataError(
                f"{path}: {what} {', '.join(repr(k) for k in missing)} missing "
                f"(found: {', '.join(archive.files) or 'nothing'})"
            )
        arrays = {}
        for k in keys:
            try:
                # The member decompresses straight into its final array: no second copy.
                arrays[k] = archive[k]
            except (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error) as exc:
                # ValueError also covers object arrays, which would need pickle.
                raise DataError(f"{path}: member {k!r} cannot be read ({type(exc).__name__}: {exc})") from exc
        return arrays


def save_npz(
    path: str | os.PathLike[str],
    images: np.ndarray,
    labels: np.ndarray,
    compress: bool = True,
    *,
    num_classes: int | None = None,
) -> Path:
    """Writes an AdaInf-style npz (``image`` uint8 N×H×W×3 RGB, ``label`` int64), atomically.

    The arrays are validated first; the file is written under a temporary name in the same folder and
    renamed into place, so `path` holds either its old content or the complete new file, never a part.

    Args:
        path: destination, used exactly as given (no ".npz" is appended); parent folders are created.
        images: (N, H, W, 3) uint8 RGB.
        labels: (N,) integers, -1 = unlabeled; stored as int64.
        compress: deflate the members (CIFAR-like images shrink by about 8%; slower to write).
        num_classes: when given, labels are checked to be below it.

    Returns:
        The written path.

    Raises:
        DataError: the arrays break the contract; nothing is written.
    """
    path = Path(path)
    labels = _validate(images, labels, num_classes, str(path))
    write_npz_atomic(path, {"image": images, "label": labels}, compress=compress)
    return path


def write_npz_atomic(
    path: str | os.PathLike[str], arrays: dict[str, np.ndarray], *, compress: bool = True
) -> None:
    """Writes `arrays` as an npz under a temporary name next to `path`, then renames it into place.

    No validation: `save_npz` is the checked entry point; this is for multi-split files like the bundled
    sample. On any failure the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a data file should be as readable as any other
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------------
# CIFAR-10/100 official releases


@dataclass(frozen=True)
class _Release:
    """One official archive of CIFAR-10 or CIFAR-100 and the files inside it."""

    name: str  # "cifar10" | "cifar100"
    kind: str  # "binary" | "python"
    archive: str
    md5: str  # of the archive, as published by the authors (and used by torchvision)
    folder: str  # what the archive extracts to
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    num_classes: int

    @property
    def url(self) -> str:
        return f"https://www.cs.toronto.edu/~kriz/{self.archive}"

    @property
    def classes(self) -> tuple[str, ...]:
        return CIFAR10_CLASSES if self.name == "cifar10" else CIFAR100_CLASSES


_CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))

# Per dataset, in order of preference: the binary release needs no unpickling at all.
_RELEASES: dict[str, tuple[_Release, _Release]] = {
    "cifar10": (
        _Release("cifar10", "binary", "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
                 "cifar-10-batches-bin", tuple(f"{b}.bin" for b in _CIFAR10_BATCHES), ("test_batch.bin",), 10),
        _Release("cifar10", "python", "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                 "cifar-10-batches-py", _CIFAR10_BATCHES, ("test_batch",), 10),
    ),
    "cifar100": (
        _Release("cifar100", "binary", "cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8",
                 "cifar-100-binary", ("train.bin",), ("test.bin",), 100),
        _Release("cifar100", "python", "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                 "cifar-100-python", ("train",), ("test",), 100),
    ),
}  # fmt: skip

_CIFAR_SIDE = 32
_CIFAR_PIXELS = 3 * _CIFAR_SIDE * _CIFAR_SIDE  # 3072: R plane, G plane, B plane, each row-major 32×32


def default_root(name: str) -> Path:
    """The folder `load_cifar` looks in when no root is given.

    ``$ADAINF_DATA`` when set (used as is, shared by CIFAR-10 and CIFAR-100, like torchvision's root: the
    four releases extract to distinct folder names), else ``~/.cache/adainf/<name>``.
    """
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adainf" / name


def load_cifar(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    download: bool = True,
) -> ImageSet:
    """Loads a split of the official CIFAR-10 or CIFAR-100 release (fine labels for CIFAR-100).

    Looks in `root` for, in this order: the extracted binary folder (cifar-10-batches-bin,
    cifar-100-binary), the extracted python folder (cifar-10-batches-py, cifar-100-python), the binary
    tarball, the python tarball; `root` may also be an extracted folder itself. A tarball found there is
    extracted safely next to it. With none present and `download`, the binary tarball is fetched from the
    authors' site and its md5 checked before use. Python batches are unpickled with an unpickler that
    admits numpy arrays and nothing else.

    Args:
        name: "cifar10" or "cifar100".
        root: folder holding the release; None means `default_root(name)`.
        split: "train" (50,000 images) or "test" (10,000).
        download: fetch the release when it is not on disk.

    Returns:
        (N, 32, 32, 3) uint8 RGB images, labels in [0, num_classes), num_classes 10 or 100, class names.

    Raises:
        DataError: unknown name or split, release absent (the message says which file to put where and
            where to get it), download or checksum failure, truncated or malformed batch files, or a
            pickle that asks for anything but numpy arrays.
    """
    if name not in _RELEASES:
        raise DataError(f"dataset {name!r}: unknown CIFAR name; expected cifar10 or cifar100")
    _check_split(split)
    root = Path(root).expanduser() if root is not None else default_root(name)
    releases = _RELEASES[name]
    for rel in releases:
        folder = root if root.name == rel.folder else root / rel.folder
        if folder.is_dir():
            return _read_release(rel, folder, split)
    for rel in releases:
        archive = root / rel.archive
        if archive.is_file():
            return _read_release(rel, _extract(archive, root, rel.folder), split)
    rel = releases[0]
    if not download:
        raise DataError(f"{root}: no {name} release found; {_where_to_get(rel, root)}")
    archive = root / rel.archive
    try:
        download_file(rel.url, archive, rel.md5)
    except DataError as exc:
        raise DataError(f"{exc}; {_where_to_get(rel, root)}") from exc
    return _read_release(rel, _extract(archive, root, rel.folder), split)


def _where_to_get(rel: _Release, root: Path) -> str:
    other = _RELEASES[rel.name][1]
    return (
        f"put {rel.archive} (from {rel.url}, md5 {rel.md5}) or its extracted folder {rel.folder}/ "
        f"into {root} ({other.archive} from {other.url}, md5 {other.md5}, works too)"
    )


def download_file(
    url: str, dest: str | os.PathLike[str], md5: str, *, timeout: float = _DOWNLOAD_TIMEOUT_S
) -> Path:
    """Downloads `url` to `dest`, showing progress on stderr, and checks its md5 before renaming it.

    The bytes go to a temporary file in `dest`'s folder; `dest` appears only when complete and verified.

    Raises:
        DataError: network failure or checksum mismatch; no file is left behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm  # only the download path needs it

    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        got = digest.hexdigest()
        if got != md5:
            raise DataError(f"{dest.name}: downloaded file from {url} has md5 {got}, expected {md5}")
        os.replace(tmp, dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise DataError(f"{dest.name}: download from {url} failed ({type(exc).__name__}: {exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return dest


def _extract(archive: Path, root: Path, folder: str) -> Path:
    """Extracts `archive` and moves its `folder` to root/folder; returns that path.

    Extraction goes to a temporary folder first, so an interrupted run never leaves a half-filled release
    folder that a later run would take for a complete one. Members with absolute paths, '..' components,
    or that are not plain files or folders are refused (the official archives have none); where Python
    has it, tarfile's "data" filter is applied as well.
    """
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder}.extract-"))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for m in members:
                    parts = Path(m.name).parts
                    if m.name.startswith(("/", "\\")) or Path(m.name).is_absolute() or ".." in parts:
                        raise DataError(
                            f"{archive}: refusing to extract member {m.name!r} (path leaves the folder)"
                        )
                    if not (m.isfile() or m.isdir()):
                        raise DataError(
                            f"{archive}: refusing to extract member {m.name!r} (not a plain file or folder)"
                        )
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, members=members, filter="data")
                else:  # Python < 3.11.4: the checks above are the whole defence
                    tar.extractall(tmp, members=members)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{archive}: cannot be extracted (truncated or corrupt?): {exc}") from exc
        extracted = tmp / folder
        if not extracted.is_dir():
            raise DataError(f"{archive}: does not contain the folder {folder}/")
        target = root / folder
        os.replace(extracted, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_release(rel: _Release, folder: Path, split: str) -> ImageSet:
    files = [folder / f for f in (rel.train_files if split == "train" else rel.test_files)]
    for f in files:
        if not f.is_file():
            raise DataError(f"{folder}: batch file {f.name} missing (incomplete {rel.archive} extraction?)")
    if rel.kind == "binary":
        images, labels = _read_binary_batches(files, label_bytes=1 if rel.name == "cifar10" else 2,
                                              num_classes=rel.num_classes)  # fmt: skip
    else:
        images, labels = _read_python_batches(
            files, label_key="labels" if rel.name == "cifar10" else "fine_labels", num_classes=rel.num_classes
        )
    return ImageSet(images, labels, rel.num_classes, f"{rel.name}/{split}:{folder}", rel.classes)


def _read_binary_batches(
    files: list[Path], label_bytes: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Parses binary-version batches: records of `label_bytes` label bytes then 3072 pixel bytes.

    CIFAR-100 records carry (coarse, fine); the last label byte is the fine label in both releases.
    """
    record = label_bytes + _CIFAR_PIXELS
    counts = []
    for f in files:
        size = f.stat().st_size
        if size == 0 or size % record:
            raise DataError(
                f"{f}: size {size} bytes is not a positive multiple of the {record}-byte record "
                f"({label_bytes} label byte(s) + {_CIFAR_PIXELS} pixels); truncated or not a CIFAR binary batch"
            )
        counts.append(size // record)
    # Filled file by file, so peak memory is the result plus one batch file.
    images = np.empty((sum(counts), _CIFAR_SIDE, _CIFAR_SIDE, 3), dtype=np.uint8)
    labels = np.empty(sum(counts), dtype=np.int64)
    start = 0
    for f, n in zip(files, counts):
        records = np.fromfile(f, dtype=np.uint8).reshape(n, record)
        batch_labels = records[:, label_bytes - 1]
        _check_cifar_labels(f, batch_labels, num_classes)
        labels[start : start + n] = batch_labels
        images[start : start + n] = (
            records[:, label_bytes:].reshape(n, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
        )
        start += n
    return images, labels


def _check_cifar_labels(f: Path, labels: np.ndarray, num_classes: int) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise DataError(
            f"{f}: label {int(labels[bad[0]])} of record {int(bad[0])} is out of range for {num_classes} classes"
        )


def _numpy_pickle_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled plain numpy array refers to, under both numpy 1 and numpy 2 module names."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _reconstruct
        allowed[(module, "scalar")] = scalar
    return allowed


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays; any other global is refused.

    A pickle can call any importable callable it names (os.system, builtins.eval, ...); CIFAR batches only
    ever name numpy's array reconstruction, so that is all this admits.
    """

    _allowed = _numpy_pickle_globals()

    def __init__(self, file: Any, name: Path) -> None:
        # The batches were pickled by Python 2; 'bytes' keeps their str keys and payloads as bytes.
        super().__init__(file, encoding="bytes")
        self._name = name

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._name}: refusing to unpickle the global {module}.{name} "
                "(a CIFAR batch may only contain numpy arrays)"
            ) from None


def _read_python_batches(
    files: list[Path], label_key: str, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Parses python-version batches: dicts with 'data' (n, 3072) uint8 and a label list under `label_key`."""
    all_images, all_labels = [], []
    for f in files:
        try:
            with open(f, "rb") as fh:
                batch = _ArrayOnlyUnpickler(fh, f).load()
        except DataError:
            raise
        except Exception as exc:  # malformed pickles fail in many ways (EOFError, TypeError, numpy errors...)
            raise DataError(f"{f}: not a readable CIFAR python batch ({type(exc).__name__}: {exc})") from exc
        if not isinstance(batch, dict):
            raise DataError(f"{f}: holds a {type(batch).__name__}, expected the dict of a CIFAR python batch")
        data, labels = _batch_entry(batch, "data", f), _batch_entry(batch, label_key, f)
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != _CIFAR_PIXELS
        ):
            shape = getattr(data, "shape", None)
            raise DataError(
                f"{f}: 'data' is not a uint8 (n, {_CIFAR_PIXELS}) array (got {type(data).__name__} {shape})"
            )
        labels = np.asarray(labels)
        if (
            labels.ndim != 1
            or labels.shape[0] != data.shape[0]
            or not np.issubdtype(labels.dtype, np.integer)
        ):
            raise DataError(f"{f}: {label_key!r} is not a list of {data.shape[0]} integer labels")
        _check_cifar_labels(f, labels, num_classes)
        all_images.append(data.reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1))
        all_labels.append(labels.astype(np.int64))
    images = np.ascontiguousarray(np.concatenate(all_images))
    return images, np.concatenate(all_labels)


def _batch_entry(batch: dict[Any, Any], key: str, f: Path) -> Any:
    # Python 2 pickles give bytes keys; a batch re-saved by Python 3 has str keys. Accept both.
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    found = ", ".join(k.decode() if isinstance(k, bytes) else str(k) for k in batch)
    raise DataError(f"{f}: key {key!r} missing (found: {found})")


# --------------------------------------------------------------------------------------------------
# Image folders


def load_image_folder(path: str | os.PathLike[str]) -> ImageSet:
    """Loads a folder of PNG/JPEG images, flat (all unlabeled) or with one sub-folder per class.

    Layout: if the folder itself holds images, it is flat and every label is -1 (sub-folders are then
    ignored unless they also hold images, which is an error). Otherwise each non-hidden sub-folder is a
    class, labelled by its index in sorted name order, and its images are read recursively. Files are
    read in sorted path order, so the result is deterministic. Every image is decoded with Pillow and
    converted to RGB (grayscale is replicated, alpha dropped, palettes expanded); all must share one size.
    Files with other endings are skipped.

    Args:
        path: the folder.

    Returns:
        The images; for the class layout num_classes and classes are set, for the flat layout None.

    Raises:
        DataError: folder missing or without images, a flat/class mix, an empty class folder, an
            undecodable image (named), or an image whose size differs from the first one (named, with
            both sizes).
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: folder not found")
    flat = sorted(p for p in root.iterdir() if _is_image_file(p))
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = {d.name: _images_below(d) for d in class_dirs}
    if flat:
        nested = [name for name, files in per_class.items() if files]
        if nested:
            raise DataError(
                f"{root}: holds images both directly and in sub-folders ({', '.join(nested)}); "
                "use either a flat folder (unlabeled) or one sub-folder per class"
            )
        files, labels, classes = flat, np.full(len(flat), -1, dtype=np.int64), None
    else:
        if not class_dirs:
            raise DataError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
        empty = [name for name, files in per_class.items() if not files]
        if empty:
            raise DataError(
                f"{root / empty[0]}: class folder holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        classes = tuple(per_class)
        files = [f for name in classes for f in per_class[name]]
        labels = np.concatenate(
            [np.full(len(per_class[name]), i, dtype=np.int64) for i, name in enumerate(classes)]
        )
    images = _decode_all(files)
    return ImageSet(images, labels, len(classes) if classes else None, str(root), classes)


def _is_image_file(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()


def _images_below(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if _is_image_file(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )  # fmt: skip


def _decode_all(files: list[Path]) -> np.ndarray:
    from PIL import Image  # Pillow only when a folder is actually read

    images: np.ndarray | None = None
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                rgb = np.asarray(im.convert("RGB"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{f}: cannot be decoded as an image ({type(exc).__name__}: {exc})") from exc
        if images is None:
            # Allocated once the size is known; each image is written in place, with no list to stack.
            images = np.empty((len(files), *rgb.shape), dtype=np.uint8)
        elif rgb.shape != images.shape[1:]:
            h0, w0 = images.shape[1:3]
            raise DataError(
                f"{f}: size {rgb.shape[1]}x{rgb.shape[0]} differs from {w0}x{h0} of {files[0].name} "
                "(all images must share one size; width x height)"
            )
        images[i] = rgb
    assert images is not None  # callers pass at least one file
    return images


def convert_image_folder(src: str | os.PathLike[str], out_npz: str | os.PathLike[str]) -> ImageSet:
    """Loads an image folder (`load_image_folder`) and saves it as an AdaInf-style npz (`save_npz`).

    Images are stored RGB. (The original AdaInf conversion read files with cv2.imread and so stored BGR;
    npz files made that way need their channels reversed.) Class names are not stored: the npz format has
    only ``image`` and ``label``.

    Returns:
        The loaded set.
    """
    ds = load_image_folder(src)
    save_npz(out_npz, ds.images, ds.labels, num_classes=ds.num_classes)
    return ds


# --------------------------------------------------------------------------------------------------
# Bundled sample


def load_bundled(split: str = "train") -> ImageSet:
    """Loads the bundled CIFAR-10 sample: 2,000 train images (200/class) or 1,000 test (100/class).

    A class-balanced, seeded subset of a JPEG-derived CIFAR-10 copy, shipped as package data
    (adainf/assets/cifar10-mini.npz, made by experiments/make_bundled_sample.py) so that the default run
    needs no download.
    """
    _check_split(split)
    ref = importlib.resources.files("adainf") / "assets" / BUNDLED_FILE
    if not ref.is_file():
        raise DataError(
            f"{BUNDLED_FILE}: missing from the installed adainf package; rebuild it with {_BUNDLED_SCRIPT}"
        )
    with importlib.resources.as_file(ref) as p:
        arrays = _read_npz(p, (f"{split}_image", f"{split}_label"))
    return ImageSet(
        arrays[f"{split}_image"],
        arrays[f"{split}_label"],
        10,
        f"bundled:cifar10-mini/{split}",
        CIFAR10_CLASSES,
    )


# --------------------------------------------------------------------------------------------------
# One entry point


_ACCEPTED = (
    "accepted: None or 'bundled' (the bundled CIFAR-10 sample), 'cifar10', 'cifar100', "
    "a path to an .npz file (keys image, label) or a path to a folder of PNG/JPEG images"
)


def load(
    data: str | os.PathLike[str] | None = None,
    *,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> ImageSet:
    """Loads a dataset named by one string: what the CLI and the trainer call.

    Args:
        data: None or "bundled": the bundled CIFAR-10 sample (`load_bundled`). "cifar10" / "cifar100": the
            official release (`load_cifar`), looked for in `root`. A path to an existing .npz file
            (`load_npz`) or folder (`load_image_folder`). The two names win over same-named paths; write
            "./cifar10" for a folder called that.
        split: "train" or "test" for the bundled sample and CIFAR. An npz file or a folder holds one set,
            returned whatever the split: pass a separate path for a test set.
        root: folder with the CIFAR release; None means ``$ADAINF_DATA`` when set, else
            ``~/.cache/adainf/<name>`` (`default_root`). Unused for the other sources.
        download: allow fetching CIFAR when it is not under `root`.

    Raises:
        DataError: an unknown name, a path that does not exist or is not an .npz/folder (the message lists
            the accepted forms), or any error of the loader chosen.
    """
    _check_split(split)
    if data is None or (isinstance(data, str) and data.lower() == "bundled"):
        return load_bundled(split)
    if isinstance(data, str) and data.lower() in _RELEASES:
        return load_cifar(data.lower(), root, split, download)
    path = Path(data).expanduser()
    if path.is_dir():
        return load_image_folder(path)
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return load_npz(path)
        raise DataError(f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; {_ACCEPTED}")
    raise DataError(f"{data}: not a known dataset name nor an existing file or folder; {_ACCEPTED}")


# --------------------------------------------------------------------------------------------------
# Summary


def describe(ds: ImageSet) -> dict[str, Any]:
    """A JSON-able summary of a set.

    Keys: source, n, shape ([H, W, C]), dtype, num_classes, classes (names or None), n_labeled,
    n_unlabeled, class_counts (list indexed by label, covering num_classes or the largest label),
    bytes (images + labels in memory), mean_pixel (per RGB channel, on the 0-255 scale).
    """
    labeled = ds.labels[ds.labels >= 0]
    counts = (
        np.bincount(labeled, minlength=ds.num_classes or 0)
        if labeled.size
        else np.zeros(ds.num_classes or 0, int)
    )
    mean = ds.images.reshape(-1, ds.images.shape[-1]).mean(axis=0, dtype=np.float64)
    return {
        "source": ds.source,
        "n": len(ds),
        "shape": [int(s) for s in ds.images.shape[1:]],
        "dtype": str(ds.images.dtype),
        "num_classes": ds.num_classes,
        "classes": list(ds.classes) if ds.classes is not None else None,
        "n_labeled": ds.n_labeled,
        "n_unlabeled": len(ds) - ds.n_labeled,
        "class_counts": [int(c) for c in counts],
        "bytes": int(ds.images.nbytes + ds.labels.nbytes),
        "mean_pixel": [float(m) for m in mean],
    }
