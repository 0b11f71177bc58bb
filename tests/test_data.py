"""Fashion-MNIST loading, searching and batching, on small synthetic IDX files and on the installed real set."""

from __future__ import annotations

import gzip
import os
import pickle
import resource
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nin_core.network import data
from nin_core.network.data import (
    CLASS_NAMES,
    Batches,
    DataNotFoundError,
    find_dataset,
    load_fashion_mnist,
    load_split,
    read_idx,
    resize_batch,
    sample_test_images,
    take_subset,
    write_idx,
)

REAL_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_real = pytest.mark.skipif(not REAL_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
N_TRAIN, N_TEST = 64, 32


@pytest.fixture(autouse=True)
def no_data_anywhere(tmp_path, monkeypatch):
    """Each test starts with no env folder, an empty cache and no Debian package, so nothing leaks in."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-package")


def make_set(folder: Path, gz: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    """A small Fashion-MNIST-shaped data set written as IDX files; returns what was written."""
    g = torch.Generator().manual_seed(seed)
    tensors = {
        "train_images": torch.randint(0, 256, (N_TRAIN, 28, 28), dtype=torch.uint8, generator=g),
        "train_labels": torch.arange(N_TRAIN, dtype=torch.uint8) % 10,
        "test_images": torch.randint(0, 256, (N_TEST, 28, 28), dtype=torch.uint8, generator=g),
        "test_labels": torch.arange(N_TEST, dtype=torch.uint8) % 10,
    }
    for key, tensor in tensors.items():
        write_idx(folder / (data.IDX_FILES[key] + (".gz" if gz else "")), tensor)
    return tensors


# --- reading ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_loads_synthetic_set(tmp_path, gz):
    written = make_set(tmp_path / "fm", gz=gz)
    ds = load_fashion_mnist(tmp_path / "fm", download=False)
    assert ds.root == (tmp_path / "fm").resolve()
    assert ds.train_images.dtype == torch.uint8 and ds.train_images.shape == (N_TRAIN, 28, 28)
    assert ds.train_labels.dtype == torch.int64 and ds.test_labels.shape == (N_TEST,)
    assert torch.equal(ds.train_images, written["train_images"])
    assert torch.equal(ds.test_images, written["test_images"])
    assert torch.equal(ds.test_labels, written["test_labels"].long())
    assert load_fashion_mnist(tmp_path / "fm", download=False) is ds  # read once per folder


def test_write_then_read_keeps_shape_and_values(tmp_path):
    t = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    write_idx(tmp_path / "x.gz", t)
    with gzip.open(tmp_path / "x.gz") as f:
        assert f.read(4) == b"\x00\x00\x08\x03"
    assert torch.equal(read_idx(tmp_path / "x.gz"), t)


def test_truncated_file_is_a_clear_error(tmp_path):
    write_idx(tmp_path / "x", torch.zeros(10, 28, 28, dtype=torch.uint8))
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"is truncated: its header promises 7840 bytes.*holds 7740"):
        read_idx(tmp_path / "x")


def test_truncated_gzip_is_a_clear_error(tmp_path):
    write_idx(tmp_path / "x.gz", torch.randint(0, 256, (10, 28, 28), dtype=torch.uint8))
    (tmp_path / "x.gz").write_bytes((tmp_path / "x.gz").read_bytes()[:-50])
    with pytest.raises(ValueError, match="x.gz is not a readable gzip file"):
        read_idx(tmp_path / "x.gz")


def test_wrong_magic_is_a_clear_error(tmp_path):
    (tmp_path / "x").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="is not an IDX file"):
        read_idx(tmp_path / "x")
    (tmp_path / "y").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01" + b"\x00" * 4)  # an IDX of floats
    with pytest.raises(ValueError, match="only unsigned bytes"):
        read_idx(tmp_path / "y")


def test_split_with_mismatched_counts_is_refused(tmp_path):
    make_set(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.zeros(N_TEST - 1, dtype=torch.uint8))
    load_split(tmp_path, train=True)
    with pytest.raises(ValueError, match=f"holds {N_TEST} images but .* {N_TEST - 1} labels"):
        load_split(tmp_path, train=False)


FULL_HEADER = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60_000, 28, 28)  # as Fashion-MNIST's training images
PROMISE = "its header promises 47040000 bytes of data for shape (60000, 28, 28)"


def refused_quickly(path: Path) -> str:
    """read_idx's refusal of ``path``, checked to come before it reads the file: within a second and 200 MB."""
    peak, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(ValueError) as caught:
        read_idx(path)
    assert time.perf_counter() - start < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KiB
    return str(caught.value)


def test_a_huge_sparse_file_is_refused_by_its_size_before_it_is_read_and_before_launch(tmp_path):
    from nin_core.network.config import TINY
    from nin_core.runs.jobs import launch_issues

    make_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"  # read before the .gz beside it
    with open(path, "wb") as f:
        f.write(FULL_HEADER)
        f.truncate(6 * 2**30)  # sparse: costs no disk
    said = f"{path} is too long: {PROMISE}, it holds {6 * 2**30 - 16}"
    assert refused_quickly(path) == said
    issues = [i.message for i in launch_issues(TINY.with_overrides(data_dir=str(tmp_path)))]
    assert issues == [said]  # the form says it: the run is never queued to fail


def test_a_gzip_bomb_is_refused_after_decompressing_no_more_than_its_header_promises(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:  # 256 MiB of zeros in ~1 MB, written a MiB at a time
        f.write(FULL_HEADER)
        for _ in range(256):
            f.write(bytes(2**20))
    assert refused_quickly(path) == f"{path} is too long: {PROMISE}, it holds more"


@pytest.mark.parametrize("name", ["x", "x.gz"])
def test_a_header_promising_more_than_fashion_mnist_holds_is_refused(tmp_path, name):
    path = tmp_path / name
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**32 - 1, 28, 28)
    with (gzip.open if name.endswith(".gz") else open)(path, "wb") as f:
        f.write(header + bytes(1000))
    assert refused_quickly(path) == (f"{path} has an impossible header: shape (4294967295, 28, 28) is "
                                     "3,367,254,359,280 bytes; Fashion-MNIST's largest file holds 47,040,000")


def test_reading_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "x")
    said: list[str] = []

    def read():
        with pytest.raises(ValueError) as caught:
            read_idx(tmp_path / "x")
        said.append(str(caught.value))

    reader = threading.Thread(target=read, daemon=True)  # a blocked open would hold it, not the test
    reader.start()
    reader.join(5)
    assert said == [f"{tmp_path / 'x'} is a FIFO, not a file"]


# --- finding -----------------------------------------------------------------------------------------

def test_finds_torchvision_layout(tmp_path):
    make_set(tmp_path / "tv" / "FashionMNIST" / "raw", gz=False)
    assert find_dataset(tmp_path / "tv", download=False) == tmp_path / "tv" / "FashionMNIST" / "raw"


def test_env_var_is_honoured_over_cache(tmp_path, monkeypatch):
    make_set(tmp_path / "cache" / "nin" / "fashion-mnist")
    make_set(tmp_path / "env")
    monkeypatch.setenv("NIN_DATASET_DIR", str(tmp_path / "env"))
    assert find_dataset(download=False) == tmp_path / "env"


def test_search_order_cache_then_debian(tmp_path, monkeypatch):
    make_set(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    assert find_dataset(download=False) == tmp_path / "debian"
    make_set(tmp_path / "cache" / "nin" / "fashion-mnist" / "FashionMNIST" / "raw")
    assert find_dataset(download=False) == tmp_path / "cache" / "nin" / "fashion-mnist" / "FashionMNIST" / "raw"


def test_asked_for_folder_without_files_is_an_error_naming_it(tmp_path, monkeypatch):
    make_set(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")  # data elsewhere must not be used instead
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path / 'empty'} \(from data_dir\) lacks train-images"):
        find_dataset(tmp_path / "empty", download=False)
    monkeypatch.setenv("NIN_DATASET_DIR", str(tmp_path / "typo"))
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path / 'typo'} \(from NIN_DATASET_DIR\) does not exist"):
        load_fashion_mnist(download=True)
    (tmp_path / "passwd").write_text("root:x:0:0\n")  # a file given as the folder: not "does not exist"
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path / 'passwd'} \(from data_dir\) is a file, not a folder"):
        find_dataset(tmp_path / "passwd", download=False)


def test_a_data_folder_too_long_or_that_is_a_file_is_the_fields_message_before_launch(tmp_path):
    from nin_core.network.config import TINY
    from nin_core.runs.jobs import launch_issues

    (tmp_path / "passwd").write_text("root:x:0:0\n")
    for folder, said in (("/x" * 10_000, "cannot be used: File name too long."),
                         (str(tmp_path / "passwd"), "is a file, not a folder")):
        [issue] = [i for i in launch_issues(TINY.with_overrides(data_dir=folder)) if i.field == "train.data_dir"]
        assert said in issue.message


def test_a_fifo_or_a_symlink_loop_in_the_data_folder_is_named_for_what_it_is(tmp_path):
    from nin_core.network.config import TINY
    from nin_core.runs.jobs import launch_issues

    make_set(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    os.mkfifo(tmp_path / "train-images-idx3-ubyte")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    os.symlink("t10k-labels-idx1-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")  # a link to itself
    said = (f"The Fashion-MNIST folder {tmp_path} (from data_dir) holds train-images-idx3-ubyte, which is a FIFO, "
            "not a file; t10k-labels-idx1-ubyte.gz, which is a symlink loop.")
    with pytest.raises(DataNotFoundError) as caught:
        find_dataset(tmp_path)
    assert caught.value.problem == said
    [issue] = [i for i in launch_issues(TINY.with_overrides(data_dir=str(tmp_path))) if i.field == "train.data_dir"]
    assert issue.message.startswith(said)


def test_partial_folder_names_the_missing_file(tmp_path):
    make_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="lacks t10k-labels-idx1-ubyte"):
        find_dataset(tmp_path)


def test_nothing_anywhere_says_the_three_ways(tmp_path):
    with pytest.raises(DataNotFoundError) as caught:
        find_dataset(download=False)
    message = str(caught.value)
    assert "NIN_DATASET_DIR" in message and "--data-dir" in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "torchvision download it (needs internet)" in message
    assert str(tmp_path / "cache" / "nin" / "fashion-mnist") in message  # where it looked
    assert str(tmp_path / "no-debian-package") in message
    assert str(pickle.loads(pickle.dumps(caught.value))) == message  # survives a worker process


# --- subsets and batches -------------------------------------------------------------------------------

def test_take_subset_is_seeded_and_sized():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1).expand(100, 28, 28)
    labels = torch.arange(100)
    x, y = take_subset(images, labels, 30, seed=7)
    assert x.shape == (30, 28, 28) and y.shape == (30,)
    assert torch.equal(x[:, 0, 0].long(), y)  # images stay with their labels
    assert len(set(y.tolist())) == 30
    assert torch.equal(take_subset(images, labels, 30, seed=7)[1], y)
    assert not torch.equal(take_subset(images, labels, 30, seed=8)[1], y)
    assert take_subset(images, labels, None, seed=7)[1] is labels
    with pytest.raises(ValueError, match="between 1 and 100"):
        take_subset(images, labels, 101, seed=0)


def numbered_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose pixels all equal their index, labelled with that index, to follow examples through batches."""
    return torch.arange(n, dtype=torch.uint8).view(n, 1, 1).repeat(1, 28, 28), torch.arange(n)


def test_batches_shapes_and_last_partial_batch():
    images, labels = numbered_images(50)
    batches = Batches(images, labels, 16, resize=28)
    assert len(batches) == 4 and batches.num_examples == 50
    got = list(batches)
    assert [len(y) for _, y in got] == [16, 16, 16, 2]
    for x, y in got:
        assert x.dtype == torch.float32 and x.shape == (len(y), 1, 28, 28) and y.dtype == torch.int64
        assert x.min() >= 0 and x.max() <= 1
        assert torch.equal(x[:, 0, 0, 0], y.float() / 255)
    assert torch.equal(torch.cat([y for _, y in got]), labels)  # unshuffled: in order


def test_batches_resize_to_224():
    images, labels = numbered_images(10)
    x, y = next(iter(Batches(images, labels, 8, resize=224)))
    assert x.shape == (8, 1, 224, 224) and y.shape == (8,)
    assert torch.allclose(x[:, 0, 100, 100], y.float() / 255)


def test_shuffled_epochs_cover_every_example_once_and_differ():
    images, labels = numbered_images(50)
    batches = Batches(images, labels, 16, resize=28, shuffle=True, generator=torch.Generator().manual_seed(0))
    epochs = [torch.cat([y for _, y in batches]) for _ in range(2)]
    for order in epochs:
        assert torch.equal(order.sort().values, labels)
    assert not torch.equal(epochs[0], epochs[1])
    assert not torch.equal(epochs[0], labels)
    again = Batches(images, labels, 16, resize=28, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([y for _, y in again]), epochs[0])  # same seed, same order



@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_batches_on_gpu_match_cpu():
    images = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8)
    labels = torch.arange(40)
    runs = [Batches(images, labels, 16, resize=96, device=device, shuffle=True,
                    generator=torch.Generator().manual_seed(0)) for device in ("cpu", "cuda")]
    for (x_cpu, y_cpu), (x_gpu, y_gpu) in zip(*runs, strict=False):
        assert x_gpu.is_cuda and y_gpu.is_cuda
        assert torch.equal(y_gpu.cpu(), y_cpu)  # the seed gives the same batches on every device
        assert torch.allclose(x_gpu.cpu(), x_cpu, atol=1e-5)

# --- resizing ----------------------------------------------------------------------------------------

def test_resize_shapes_and_range():
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    images[0] = 255
    images[1] = 0
    small = resize_batch(images, 28)
    assert small.shape == (4, 1, 28, 28) and small.dtype == torch.float32
    assert torch.equal(small, images.unsqueeze(1).float() / 255)  # no interpolation at 28
    big = resize_batch(images.unsqueeze(1), 224)
    assert big.shape == (4, 1, 224, 224)
    assert big.min() == 0 and big.max() == 1
    with pytest.raises(TypeError, match="uint8"):
        resize_batch(images.float(), 224)


@pytest.mark.parametrize("size", [14, 20, 96, 224])
def test_resize_of_constant_image_stays_constant(size):
    x = resize_batch(torch.full((2, 28, 28), 200, dtype=torch.uint8), size)
    assert torch.allclose(x, torch.full_like(x, 200 / 255))


@pytest.mark.parametrize("size", [14, 224])
def test_resize_matches_pil_bilinear_as_the_seed(size):
    image = torch.randint(0, 256, (28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    pil = Image.fromarray(image.numpy()).resize((size, size), Image.BILINEAR)
    expected = torch.from_numpy(np.array(pil)).float() / 255
    # PIL rounds to whole bytes; allow that and a little more for its fixed-point arithmetic.
    assert (resize_batch(image[None], size)[0, 0] - expected).abs().max() <= 2 / 255


# --- the real data set -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    start = time.perf_counter()
    ds = load_fashion_mnist(REAL_DIR, download=False)
    return ds, time.perf_counter() - start


@needs_real
def test_real_set_sizes_and_labels(real):
    ds, seconds = real
    assert ds.train_images.shape == (60_000, 28, 28) and ds.test_images.shape == (10_000, 28, 28)
    assert ds.train_images.dtype == torch.uint8 and ds.test_labels.dtype == torch.int64
    assert torch.equal(torch.bincount(ds.train_labels), torch.full((10,), 6_000))
    assert torch.equal(torch.bincount(ds.test_labels), torch.full((10,), 1_000))
    assert len(CLASS_NAMES) == 10
    assert seconds < 15  # one read of ~30 MB of gzip; typically well under a second


@needs_real
def test_real_samples_are_seeded_copies(real):
    ds, _ = real
    samples = sample_test_images(5, seed=3, data_dir=REAL_DIR)
    assert len(samples) == 5
    for image, label in samples:
        assert image.shape == (28, 28) and image.dtype == torch.uint8 and 0 <= label < 10
    assert [label for _, label in sample_test_images(5, seed=3, data_dir=REAL_DIR)] == [label for _, label in samples]
    samples[0][0].zero_()
    assert ds.test_images.sum(dim=(1, 2)).min() > 0  # drawing on a sample leaves the shared set alone
