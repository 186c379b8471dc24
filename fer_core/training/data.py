"""Face datasets: FER2013 CSV files and image-folder datasets, as uint8 arrays with their label names."""
from __future__ import annotations

import csv
import gzip
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..labels import EMOTIONS, canonical_label

log = logging.getLogger(__name__)

FER_SIDE = 48
FER_USAGES = ("Training", "PublicTest", "PrivateTest")
MIXED_ROW = -1  # FaceDataset.rows of an image added from another dataset (--mix): it has no row of its own here
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm"}


class DatasetError(ValueError):
    """A dataset file or folder is malformed; the message names the file (and row)."""


@dataclass
class FaceDataset:
    """Grayscale face images ``(N, H, W)`` uint8 with integer labels indexing ``label_names``."""

    images: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    source: str = ""
    split: str = ""
    groups: np.ndarray | None = field(default=None, repr=False)  # e.g. subject id per image
    # each image's row among the rows its loader read (FER2013: of the Usage read), kept through ``subset``, so that
    # per-row side data (FER+ votes) still pairs with a split or a sample of the rows; MIXED_ROW (-1) marks an image
    # added from elsewhere (--mix), which has no such row
    rows: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise DatasetError(
                f"Images must be uint8 of shape (N, H, W). Received: shape={self.images.shape}, dtype={self.images.dtype}"
            )
        if len(self.images) != len(self.labels):
            raise DatasetError(f"Images and labels differ in length. Received: {len(self.images)} vs {len(self.labels)}")

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def subset(self, index: np.ndarray, split: str | None = None) -> "FaceDataset":
        return FaceDataset(
            self.images[index], self.labels[index], self.label_names, self.source,
            self.split if split is None else split,
            None if self.groups is None else self.groups[index],
            None if self.rows is None else self.rows[index],
        )

    def describe(self) -> dict:
        return {"source": self.source, "split": self.split, "n": len(self), "labels": list(self.label_names),
                "class_counts": self.class_counts(), "image_size": list(self.images.shape[1:])}


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def load_fer2013(path: str | os.PathLike, usage: str | Sequence[str] | None = None) -> FaceDataset:
    """Read a FER2013 CSV (``emotion,pixels,Usage``; plain or ``.gz``), keeping rows whose Usage is in ``usage``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FER2013 CSV not found. Received: path={str(path)!r}")
    wanted = None if usage is None else ({usage} if isinstance(usage, str) else set(usage))
    if wanted and not wanted <= set(FER_USAGES):
        raise DatasetError(f"Usage must be among {FER_USAGES}. Received: usage={sorted(wanted)}")
    images, labels = [], []
    n_pixels = FER_SIDE * FER_SIDE
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{path}: the file is empty.")
        cols = [h.strip() for h in header]
        try:
            i_emo, i_pix = cols.index("emotion"), cols.index("pixels")
        except ValueError:
            raise DatasetError(f"{path}: expected a header with 'emotion' and 'pixels' columns. Received: header={cols}") from None
        i_use = cols.index("Usage") if "Usage" in cols else None
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(cols):
                raise DatasetError(f"{path}, row {row_no}: expected {len(cols)} fields. Received: {len(row)}")
            row_usage = row[i_use].strip() if i_use is not None else "Training"
            if wanted and row_usage not in wanted:
                continue
            try:
                label = int(row[i_emo])
            except ValueError:
                raise DatasetError(f"{path}, row {row_no}: emotion must be an integer 0-6. Received: {row[i_emo]!r}") from None
            if not 0 <= label < len(EMOTIONS):
                raise DatasetError(f"{path}, row {row_no}: emotion must be 0-6. Received: {label}")
            try:
                pixels = np.array(row[i_pix].split(), dtype=np.int32)
            except ValueError:
                raise DatasetError(f"{path}, row {row_no}: pixels must be space-separated integers.") from None
            if pixels.size != n_pixels:
                raise DatasetError(f"{path}, row {row_no}: expected {n_pixels} pixels (48x48). Received: {pixels.size}")
            if pixels.min() < 0 or pixels.max() > 255:
                raise DatasetError(f"{path}, row {row_no}: pixel values must be 0-255.")
            images.append(pixels.astype(np.uint8).reshape(FER_SIDE, FER_SIDE))
            labels.append(label)
    split = "+".join(sorted(wanted)) if wanted else "all"
    if not images:
        log.warning("%s: no rows with Usage in %s", path, sorted(wanted or []))
        arr = np.zeros((0, FER_SIDE, FER_SIDE), np.uint8)
    else:
        arr = np.stack(images)
    ds = FaceDataset(arr, np.asarray(labels, dtype=np.int64), EMOTIONS, str(path), split, rows=np.arange(len(arr)))
    log.info("Loaded %d FER2013 rows (%s) from %s", len(ds), split, path)
    return ds


def read_gray(path: Path, size: int | None) -> np.ndarray:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise DatasetError(f"{path}: unreadable image.")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code)
    if size and img.shape != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img.astype(np.uint8)


def load_image_folder(root: str | os.PathLike, size: int = FER_SIDE, canonical: bool = True) -> FaceDataset:
    """Read ``root/<label>/<image>`` into a grayscale dataset resized to ``size`` x ``size``.

    Class names are folder names (mapped to our names, e.g. ``anger`` -> ``angry``, when ``canonical``).
    The subject id (``S010`` in CK+'s ``S010_004_00000017.png``) is kept in ``groups`` for subject splits.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found. Received: path={str(root)!r}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"{root}: expected one sub-folder per class. Received: no sub-folders.")
    names = tuple(canonical_label(d.name) if canonical else d.name for d in class_dirs)
    if len(set(names)) != len(names):
        raise DatasetError(f"{root}: two folders map to the same class. Received: {[d.name for d in class_dirs]}")
    images, labels, groups = [], [], []
    skipped = 0
    for idx, d in enumerate(class_dirs):
        files = sorted(p for p in d.iterdir() if p.is_file())
        kept = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        skipped += len(files) - len(kept)
        if not kept:
            raise DatasetError(f"{d}: class folder holds no images ({sorted(IMAGE_SUFFIXES)}).")
        for p in kept:
            images.append(read_gray(p, size))
            labels.append(idx)
            groups.append(p.name.split("_")[0])
    if skipped:
        log.warning("%s: skipped %d files that are not images", root, skipped)
    ds = FaceDataset(np.stack(images), np.asarray(labels, dtype=np.int64), names, str(root), "all", np.asarray(groups))
    log.info("Loaded %d images in %d classes from %s", len(ds), len(names), root)
    return ds


PACKED_SUFFIX = ".fer.npz"  # FER2013 rows packed for a small transfer: pack_fer2013 / load_packed
PACKED_USAGES = {"Training": 0, "PublicTest": 1}
HOLDOUT = "holdout"  # val_usage that holds a stratified share of Training out for model selection
HOLDOUT_FRACTION, HOLDOUT_SEED = 0.1, 20261204  # one split for every run, so their validation figures compare


def pack_fer2013(csv_path: str | os.PathLike, out: str | os.PathLike, quality: int = 95, columns: int = 64,
                 usages: Sequence[str] = tuple(PACKED_USAGES)) -> Path:
    """Pack FER2013's Training and PublicTest rows into one ``.fer.npz`` (a JPEG mosaic of the faces, labels, usages)
    about half the CSV's size, for a machine that takes only a few tens of MB. At quality 95 the decoded pixels differ
    from the CSV's by 0.09 grey levels on average (the rows were JPEG-decoded to begin with); PrivateTest is never
    packed."""
    import cv2

    if not str(out).endswith(PACKED_SUFFIX):
        raise ValueError(f"The packed file's name must end in {PACKED_SUFFIX}. Received: out={str(out)!r}")
    if not set(usages) <= set(PACKED_USAGES):
        raise DatasetError(f"Only {list(PACKED_USAGES)} rows are packed. Received: usages={list(usages)}")
    parts = [load_fer2013(csv_path, usage=u) for u in usages]
    images = np.concatenate([p.images for p in parts])
    n = len(images)
    rows = -(-n // columns)
    grid = np.zeros((rows * columns, FER_SIDE, FER_SIDE), np.uint8)
    grid[:n] = images
    mosaic = grid.reshape(rows, columns, FER_SIDE, FER_SIDE).transpose(0, 2, 1, 3).reshape(rows * FER_SIDE, -1)
    ok, jpeg = cv2.imencode(".jpg", mosaic, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DatasetError(f"Could not encode the mosaic. Received: shape={mosaic.shape}")
    usage = np.concatenate([np.full(len(p), PACKED_USAGES[u], np.uint8) for p, u in zip(parts, usages)])
    np.savez(out, jpeg=jpeg, labels=np.concatenate([p.labels for p in parts]).astype(np.uint8), usage=usage,
             columns=np.int64(columns), source=np.str_(Path(csv_path).name))
    return Path(out)


def load_packed(path: str | os.PathLike, usage: str | Sequence[str] | None = None) -> FaceDataset:
    """Read a ``.fer.npz`` written by ``pack_fer2013``, keeping the rows whose Usage is in ``usage``."""
    import cv2

    with np.load(path) as z:
        jpeg, labels, usages, columns = z["jpeg"], z["labels"], z["usage"], int(z["columns"])
    mosaic = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    if mosaic is None:
        raise DatasetError(f"{path}: the mosaic is not a readable JPEG.")
    rows = mosaic.shape[0] // FER_SIDE
    images = mosaic.reshape(rows, FER_SIDE, columns, FER_SIDE).transpose(0, 2, 1, 3).reshape(-1, FER_SIDE, FER_SIDE)
    images = images[: len(labels)]
    wanted = list(PACKED_USAGES) if usage is None else ([usage] if isinstance(usage, str) else list(usage))
    unknown = [u for u in wanted if u not in PACKED_USAGES]
    if unknown:
        raise DatasetError(f"A packed file holds the usages {list(PACKED_USAGES)}. Received: usage={unknown}")
    keep = np.isin(usages, [PACKED_USAGES[u] for u in wanted])
    return FaceDataset(np.ascontiguousarray(images[keep]), labels[keep].astype(np.int64), EMOTIONS, str(path),
                       "+".join(sorted(wanted)), rows=np.arange(int(keep.sum())))


def load_dataset(path: str | os.PathLike, usage: str | Sequence[str] | None = None, size: int = FER_SIDE) -> FaceDataset:
    """A FER2013 CSV (``.csv``/``.csv.gz``) or an image folder, by what ``path`` is."""
    p = Path(path)
    if str(p).endswith(PACKED_SUFFIX):
        return load_packed(p, usage)
    if p.is_dir():
        return load_image_folder(p, size=size)
    if p.name.endswith((".csv", ".csv.gz")):
        return load_fer2013(p, usage)
    if not p.exists():
        raise FileNotFoundError(f"Dataset not found. Received: path={str(p)!r}")
    raise DatasetError(f"Expected a FER2013 .csv/.csv.gz file or a folder of class folders. Received: path={str(p)!r}")


def select_classes(ds: FaceDataset, classes: Iterable[str] | None, remap: dict[str, str] | None = None) -> FaceDataset:
    """Keep only ``classes`` (in that order) after renaming labels by ``remap`` (several names may merge into one)."""
    remap = {canonical_label(k): canonical_label(v) for k, v in (remap or {}).items()}
    renamed = [remap.get(n, n) for n in ds.label_names]
    target = tuple(classes) if classes else tuple(dict.fromkeys(renamed))
    unknown = [c for c in target if c not in renamed]
    if unknown:
        raise DatasetError(f"Classes {unknown} are not in the dataset. Received: dataset labels={list(renamed)}")
    lookup = np.array([target.index(n) if n in target else -1 for n in renamed], dtype=np.int64)
    new_labels = lookup[ds.labels] if len(ds) else ds.labels
    keep = new_labels >= 0
    dropped = int((~keep).sum())
    if dropped:
        log.info("Dropped %d images of classes outside %s", dropped, list(target))
    out = ds.subset(np.flatnonzero(keep))
    out.labels = new_labels[keep]
    out.label_names = target
    return out


def stratified_split(ds: FaceDataset, val_fraction: float = 0.2, seed: int = 0,
                     by_group: bool = False) -> tuple[FaceDataset, FaceDataset]:
    """Seeded split keeping class proportions; ``by_group`` keeps each group (subject) on one side."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1). Received: val_fraction={val_fraction}")
    rng = np.random.default_rng(seed)
    if by_group:
        if ds.groups is None:
            raise DatasetError("by_group split needs group ids (subjects); this dataset has none.")
        uniq = np.unique(ds.groups)
        rng.shuffle(uniq)
        n_val = max(1, int(round(len(uniq) * val_fraction)))
        val_mask = np.isin(ds.groups, uniq[:n_val])
        val_idx = np.flatnonzero(val_mask)
    else:
        val_idx = []
        for c in range(len(ds.label_names)):
            idx = np.flatnonzero(ds.labels == c)
            rng.shuffle(idx)
            val_idx.extend(idx[: int(round(len(idx) * val_fraction))])
        val_idx = np.sort(np.asarray(val_idx, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(len(ds)), val_idx)
    return ds.subset(train_idx, "train"), ds.subset(val_idx, "validation")


COPY_CHECKED_USAGES = ("PublicTest", "PrivateTest")  # FER2013 test rows checked for copies of Training rows


def copies_of(ds: FaceDataset, reference: FaceDataset) -> np.ndarray:
    """Which images of ``ds`` repeat an image of ``reference`` pixel for pixel (a boolean mask over ``ds``).
    FER2013 holds such copies: a test row that is a training row measures memory, not reading a face."""
    if len(ds) == 0 or len(reference) == 0 or ds.images.shape[1:] != reference.images.shape[1:]:
        return np.zeros(len(ds), dtype=bool)
    seen = {image.tobytes() for image in reference.images}
    return np.fromiter((image.tobytes() in seen for image in ds.images), dtype=bool, count=len(ds))


def fer2013_training_copies(path: str | os.PathLike, ds: FaceDataset, usage: str | None) -> np.ndarray | None:
    """For ``ds``, the ``usage`` rows of the FER2013 file ``path`` (PublicTest or PrivateTest): which repeat a Training
    row of the same file. None where the check does not apply: an image folder, other rows, or no Training rows."""
    if usage not in COPY_CHECKED_USAGES or Path(path).is_dir():
        return None
    reference = load_dataset(path, usage="Training")
    if len(reference) == 0:
        return None
    return copies_of(ds, reference)
