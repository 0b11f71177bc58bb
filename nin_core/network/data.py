"""Real Fashion-MNIST, kept as uint8 tensors and resized per batch on the training device.

The seed's DataLoader resizes each image to 224 px through PIL on the CPU, one at a time, which keeps a GPU
waiting; resizing the whole set up front would take 12 GB of floats. Here the set stays 28 px uint8 (~50 MB),
moves to the device once, and each batch is resized there with the seed's bilinear filter.
"""

from __future__ import annotations

import errno
import gzip
import io
import math
import os
import stat
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nin_core.i18n import N_, _

# d2l's text labels, in label order (shown in the reader's language: d2l-zh's T恤, 裤子, …).
CLASS_NAMES: tuple[str, ...] = (
    N_("t-shirt"), N_("trouser"), N_("pullover"), N_("dress"), N_("coat"), N_("sandal"), N_("shirt"), N_("sneaker"),
    N_("bag"), N_("ankle boot"),
)


def class_names(num_classes: int) -> tuple[str, ...]:
    """Fashion-MNIST's names for a 10-class model; ``class 0``, ``class 1``, … for any other."""
    return CLASS_NAMES if num_classes == len(CLASS_NAMES) else tuple(f"class {i}" for i in range(num_classes))


ENV_VAR = "NIN_DATASET_DIR"
# Where Debian's and Ubuntu's ``dataset-fashion-mnist`` package installs the files.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_UBYTE = 0x08


class DataNotFoundError(RuntimeError):
    """No folder with the four Fashion-MNIST files; the message says how to get them and where it looked, in the
    language of the process that raised it (a page's, the command line's; a run's worker stores its own)."""

    def __init__(self, searched: list[Path], problem: str | None = None, cause: str | None = None):
        problem = problem or _("Fashion-MNIST was not found.")
        self.searched, self.problem, self.cause = searched, problem, cause
        lines = [problem]
        if cause:
            lines.append(_("The download failed: {cause}").format(cause=cause))
        lines += [
            _("Get it in one of three ways:"),
            "  " + _("1. set {variable} (or the config's data_dir, or --data-dir on the command line) to a folder "
                     "holding {files};").format(variable=ENV_VAR,
                                                files=", ".join(name + "[.gz]" for name in IDX_FILES.values())),
            "  " + _("2. on Debian or Ubuntu: {command};").format(command="sudo apt-get install dataset-fashion-mnist"),
            "  " + _("3. let torchvision download it (needs internet) into {folder}.").format(folder=user_cache_dir()),
            _("Searched: {places}").format(places=", ".join(str(p) for p in searched) or _("nowhere")),
        ]
        super().__init__("\n".join(lines))

    def __reduce__(self):  # rebuilt from its parts when it crosses from a worker process
        return type(self), (self.searched, self.problem, self.cause)


def user_cache_dir() -> Path:
    """Where this project keeps (and torchvision downloads) its copy: $XDG_CACHE_HOME or ~/.cache."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nin" / "fashion-mnist"


_MISSING = N_("does not exist")


def _mode_problem(mode: int) -> str | None:
    """What a path of this mode is, to follow its name in a message (in English: ``_()`` where it is said); None
    for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return N_("is a FIFO, not a file")
    return N_("is a folder, not a file") if stat.S_ISDIR(mode) else N_("is not a regular file")


def _path_problem(path: Path) -> str | None:
    """None for a regular file (or a link to one), else what ``path`` is: a FIFO or a link loop named like an IDX
    file is not a missing file, and the message must not send the user looking for one. In English, as
    ``_mode_problem``."""
    try:
        return _mode_problem(path.stat().st_mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return N_("is a symlink loop")
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return _MISSING
        raise


def _idx_file(folder: Path, stem: str) -> Path | None:
    # The raw file first: it reads without decompressing (torchvision's raw folder holds both).
    for path in (folder / stem, folder / f"{stem}.gz"):
        if _path_problem(path) is None:
            return path
    return None


def _folder_problem(folder: Path) -> str | None:
    """What keeps ``folder`` from holding the four files, to follow its name ("lacks …"); None if nothing does."""
    lacking, odd = [], []
    for stem in IDX_FILES.values():
        if _idx_file(folder, stem) is None:
            found = [_("{file}, which {problem}").format(file=path.name, problem=_(said))
                     for path in (folder / stem, folder / f"{stem}.gz")
                     if (said := _path_problem(path)) not in (None, _MISSING)]
            odd += found
            if not found:
                lacking.append(stem)
    parts = ([_("lacks {files}").format(files=", ".join(lacking))] if lacking else []) + (
        [_("holds {files}").format(files="; ".join(odd))] if odd else [])
    return _(" and ").join(parts) or None


def _holding_folder(candidate: Path) -> Path | None:
    """The candidate itself or torchvision's ``<root>/FashionMNIST/raw`` under it, whichever has all four files."""
    for folder in (candidate, candidate / "FashionMNIST" / "raw"):
        if _folder_problem(folder) is None:
            return folder
    return None


def find_dataset(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """The folder holding the four IDX files (.gz or raw).

    A folder that was asked for (``data_dir``, else $NIN_DATASET_DIR) is the only place looked: if it lacks the
    files that is an error naming it, since silently training on another copy would hide the mistake. Otherwise
    the user's cache, then Debian's package, then (if ``download``) torchvision downloads into the cache.
    """
    asked = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or None
    if asked is not None:
        folder = Path(asked).expanduser()
        found = _holding_folder(folder)
        if found is None:
            source = "data_dir" if data_dir is not None else ENV_VAR
            what = (_folder_problem(folder) if folder.is_dir()
                    else _("is a file, not a folder") if folder.exists() else _(_MISSING))
            raise DataNotFoundError([folder], _("The Fashion-MNIST folder {folder} (from {source}) {problem}.").format(
                folder=folder, source=source, problem=what))
        return found

    cache = user_cache_dir()
    searched = [cache, DEBIAN_DIR]
    for candidate in searched:
        found = _holding_folder(candidate)
        if found is not None:
            return found
    if not download:
        raise DataNotFoundError(searched)
    import torchvision  # only here: importing it costs a second that a found data set never pays

    try:
        torchvision.datasets.FashionMNIST(root=str(cache), download=True)
    except (OSError, RuntimeError) as e:  # no network, a refused URL, a full disk, a bad checksum
        raise DataNotFoundError(searched, cause=str(e)) from e
    found = _holding_folder(cache)
    if found is None:
        raise DataNotFoundError(searched, cause=_("torchvision finished but {folder} lacks the files").format(
            folder=cache))
    return found


# Fashion-MNIST's largest file, its training images: a header promising more is damaged or hostile, and reading
# what it promises could exhaust the machine's memory.
_MAX_IDX_BYTES = 60_000 * 28 * 28


def _open_file(path: Path) -> io.BufferedReader:
    """``path`` opened for reading, or a ValueError saying what it is instead of a file. Opened without blocking, so
    a FIFO is refused rather than waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise ValueError(_("{path} {problem}").format(path=path, problem=_("is a symlink loop"))) from None
    said = _mode_problem(os.fstat(fd).st_mode)
    if said:
        os.close(fd)
        raise ValueError(_("{path} {problem}").format(path=path, problem=_(said)))
    return os.fdopen(fd, "rb")


def _read_header(f: io.BufferedIOBase, path: Path) -> tuple[int, ...]:
    """The shape an IDX file's header promises, checked to be of unsigned bytes and no larger than Fashion-MNIST."""
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise ValueError(_("{path} is not an IDX file: it does not start with the IDX magic number").format(path=path))
    if magic[2] != _UBYTE:
        raise ValueError(_("{path} holds IDX type {type}; only unsigned bytes (0x08) are supported").format(
            path=path, type=f"0x{magic[2]:02x}"))
    packed = f.read(4 * magic[3])
    if len(packed) < 4 * magic[3]:
        raise ValueError(_("{path} is truncated: it ends inside its header").format(path=path))
    dims = struct.unpack(f">{magic[3]}I", packed)
    if math.prod(dims) > _MAX_IDX_BYTES:
        raise ValueError(_("{path} has an impossible header: shape {shape} is {size} bytes; Fashion-MNIST's largest "
                           "file holds {largest}").format(path=path, shape=dims, size=f"{math.prod(dims):,}",
                                                          largest=f"{_MAX_IDX_BYTES:,}"))
    return dims


def _length_error(path: Path, dims: tuple[int, ...], held: int | None) -> ValueError:
    """``held`` bytes of data where the header promised another number; None: more, by an unknown amount."""
    expected = math.prod(dims)
    if held is not None and held < expected:
        message = _("{path} is truncated: its header promises {expected} bytes of data for shape {shape}, it holds "
                    "{held}")
    else:
        message = _("{path} is too long: its header promises {expected} bytes of data for shape {shape}, it holds "
                    "{held}")
    return ValueError(message.format(path=path, expected=expected, shape=dims,
                                     held=_("more") if held is None else held))


@contextmanager
def _opened_idx(path: Path) -> Iterator[tuple[io.BufferedIOBase, tuple[int, ...]]]:
    """An IDX file (gzip if it ends in .gz) at its data, and the shape its header promises. A raw file of another
    size than that is refused here, unread; a damaged gzip stream, here or while the caller reads, is a ValueError."""
    with _open_file(path) as raw:
        try:
            with gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else nullcontext(raw) as f:
                dims = _read_header(f, path)
                size = os.fstat(raw.fileno()).st_size - raw.tell() if f is raw else None
                if size is not None and size != math.prod(dims):
                    raise _length_error(path, dims, size)
                yield f, dims
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise ValueError(_("{path} is not a readable gzip file ({why})").format(path=path, why=e)) from None


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """An IDX file (gzip if it ends in .gz) as a uint8 tensor; a ValueError naming the file if it is damaged or no
    file. No more is read than the header promises, a gzip stream included, so no file can exhaust the memory."""
    path = Path(path)
    with _opened_idx(path) as (f, dims):
        data = torch.empty(dims, dtype=torch.uint8)
        held = f.readinto(data.view(-1).numpy().data)
        if held < data.numel() or f.read(1):  # one byte past the promise is enough to refuse the rest unread
            raise _length_error(path, dims, held if held < data.numel() else None)
    return data


def _idx_problem(path: Path) -> str | None:
    """Why ``read_idx`` would refuse ``path``, as far as its header and size tell without reading its data; None if
    they look right."""
    try:
        with _opened_idx(path):
            return None
    except ValueError as e:
        return str(e)


def dataset_problems(folder: Path) -> list[str]:
    """Why the four files of ``folder`` (as ``find_dataset`` found it) could not be read, one line a file, from their
    headers and sizes alone: quick enough for a form's check, so a run is not queued only to fail."""
    paths = [_idx_file(folder, stem) for stem in IDX_FILES.values()]
    return [problem for problem in map(_idx_problem, filter(None, paths)) if problem]


def write_idx(path: str | os.PathLike, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor as an IDX file, gzipped if the name ends in .gz (for tests and small data sets)."""
    if tensor.dtype != torch.uint8:
        raise ValueError(f"IDX files here hold uint8, got {tensor.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bytes([0, 0, _UBYTE, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    data += tensor.detach().cpu().contiguous().numpy().tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def load_split(root: str | os.PathLike, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 28, 28) and labels int64 (N,) of one split, checked to agree."""
    root = Path(root)
    split = "train" if train else "test"
    paths = []
    for kind in ("images", "labels"):
        path = _idx_file(root, IDX_FILES[f"{split}_{kind}"])
        if path is None:
            raise DataNotFoundError([root], _("{folder} lacks {file}.").format(
                folder=root, file=IDX_FILES[f"{split}_{kind}"] + "[.gz]"))
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dim() != 3 or labels.dim() != 1:
        raise ValueError(_("{images} must hold (N, H, W) images and {labels} (N,) labels, got {image_shape} and "
                           "{label_shape}").format(images=paths[0], labels=paths[1], image_shape=tuple(images.shape),
                                                   label_shape=tuple(labels.shape)))
    if len(images) != len(labels):
        raise ValueError(_("{images} holds {n_images} images but {labels} {n_labels} labels").format(
            images=paths[0], n_images=len(images), labels=paths[1], n_labels=len(labels)))
    # A label past the last class would only surface later, as an index error (or a CUDA assert) in the loss.
    if len(labels) and int(labels.max()) >= len(CLASS_NAMES):
        raise ValueError(_("{labels} holds label {label}; Fashion-MNIST has {classes} classes").format(
            labels=paths[1], label=int(labels.max()), classes=len(CLASS_NAMES)))
    return images, labels.long()


@dataclass(frozen=True)
class FashionMNIST:
    """Both splits as loaded; shared by every caller in the process, so treat the tensors as read-only."""

    root: Path
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


_loaded: dict[Path, FashionMNIST] = {}
_load_lock = threading.Lock()


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> FashionMNIST:
    """Both splits, read once per folder in this process (a dashboard's runs share one ~50 MB copy)."""
    root = find_dataset(data_dir, download=download).resolve()
    with _load_lock:
        if root not in _loaded:
            train = load_split(root, train=True)
            test = load_split(root, train=False)
            _loaded[root] = FashionMNIST(root, *train, *test)
        return _loaded[root]


def take_subset(images: torch.Tensor, labels: torch.Tensor, size: int | None,
                seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All examples (``size`` None), else ``size`` of them drawn at random, the same ones for the same (size, seed)."""
    if size is None:
        return images, labels
    if not 1 <= size <= len(images):
        raise ValueError(_("subset size must be between 1 and {largest}, got {size}").format(largest=len(images),
                                                                                             size=size))
    index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:size]
    return images[index], labels[index]


def resize_batch(images_u8: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B, H, W) or (B, 1, H, W) on any device -> float32 (B, 1, size, size) in [0, 1] on that device.

    Bilinear with antialiasing, as the seed's ``transforms.Resize`` on PIL images: upsizing is plain bilinear
    and downsizing averages like PIL instead of skipping pixels.
    """
    if images_u8.dtype != torch.uint8:
        raise TypeError(f"resize_batch takes uint8 images, got {images_u8.dtype}")
    x = images_u8.unsqueeze(1) if images_u8.dim() == 3 else images_u8
    x = x.float().div_(255)
    if x.shape[-2:] == (size, size):
        return x
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp_(0, 1)  # the filter's weights sum to 1 only up to rounding: 1.0000001 would break the range


def shift_pixels(resize: int) -> int:
    """The largest shift of ``flip-shift``: 2 px at Fashion-MNIST's 28 px, scaled with the resize."""
    return max(1, round(2 * resize / 28))


def flip_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of a (B, C, H, W) batch mirrored left-right with probability 1/2 and moved by up to
    ``shift_pixels`` in each direction (the border filled with the background, zero). Drawn on the CPU generator,
    so a seed gives the same batches on every device; done where the batch lives."""
    b, _, h, w = x.shape
    s = shift_pixels(h)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    dy, dx = (torch.randint(-s, s + 1, (2, b), generator=generator) + s).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (s, s, s, s))
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, :, None]
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, :]
    # (B, H, W, C) from per-image windows of the padded batch, back to (B, C, H, W)
    return padded[torch.arange(b, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


def training_batch(x: torch.Tensor, augment: torch.Generator | None) -> torch.Tensor:
    """A batch as training steps take it: augmented when ``augment`` (its generator) is given, laid out
    channels_last. The trainer and the time estimate both prepare their batches here."""
    x = flip_shift(x, augment) if augment is not None else x
    return x.contiguous(memory_format=torch.channels_last)


class Batches:
    """One epoch of (x, y) batches per iteration; iterate again for the next epoch (with a fresh shuffle).

    The uint8 images and labels move to ``device`` once, here; each batch is then indexed and resized there, so
    a GPU run copies nothing per step. The last partial batch is kept, as d2l's DataLoader does.

    ``shard=(rank, world_size)``: in distributed training every process draws the same order and takes its own
    contiguous part of each global batch, so the ranks together see exactly the batches of one process. A last
    batch with fewer examples than processes is left out, as no rank may get an empty part.

    ``in_channels``: each grayscale batch, once resized, repeated over a model's input channels (a view, so the
    data set is kept and resized once whatever the channels).
    """

    def __init__(self, images_u8: torch.Tensor, labels: torch.Tensor, batch_size: int, *, resize: int,
                 device: torch.device | str = "cpu", shuffle: bool = False,
                 generator: torch.Generator | None = None, shard: tuple[int, int] = (0, 1), in_channels: int = 1):
        if len(images_u8) != len(labels):
            raise ValueError(f"{len(images_u8)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device)
        self.images = images_u8.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self.batch_size = batch_size
        self.resize = resize
        self.in_channels = in_channels
        self.shuffle = shuffle
        self.generator = generator
        self.rank, self.world_size = shard
        tail = len(labels) % batch_size
        # Examples per epoch, over all processes: all of them but a last batch too small to share out.
        self.num_examples = len(labels) - (tail if 0 < tail < self.world_size else 0)

    def __len__(self) -> int:
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch()

    def epoch(self, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch's batches, the first ``skip`` left out (a run continued mid-epoch: the order is drawn all the
        same, so the generator ends where an uninterrupted epoch leaves it)."""
        # The order is drawn on the CPU generator, so a seed gives the same batches on every device and rank.
        order = torch.randperm(len(self.labels), generator=self.generator) if self.shuffle else None
        for start in range(skip * self.batch_size, self.num_examples, self.batch_size):
            end = min(start + self.batch_size, self.num_examples)
            if self.world_size > 1:
                part = torch.arange(start, end).tensor_split(self.world_size)[self.rank]
                start, end = int(part[0]), int(part[-1]) + 1
            index = slice(start, end) if order is None else order[start:end].to(self.device)
            x = resize_batch(self.images[index], self.resize)
            yield (x.expand(-1, self.in_channels, -1, -1) if self.in_channels > 1 else x), self.labels[index]


def sample_test_images(n: int, seed: int, data_dir: str | os.PathLike | None = None) -> list[tuple[torch.Tensor, int]]:
    """``n`` random (28×28 uint8 image, label) pairs from the real test split, the same ones for the same seed."""
    data = load_fashion_mnist(data_dir)
    # take_subset indexes with a tensor, so these are copies: a caller cannot change the shared data set.
    images, labels = take_subset(data.test_images, data.test_labels, n, seed)
    return [(image, int(label)) for image, label in zip(images, labels, strict=False)]
