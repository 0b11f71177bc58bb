"""A trained NiN measured on the test set: confusion matrix, per-class accuracy and its mistakes.

Everything here is plain Python and PyTorch, tested without Streamlit; the dashboard caches the results.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from nin_core.network.checkpoint import load_model
from nin_core.network.data import CLASS_NAMES, Batches, class_names, load_fashion_mnist, take_subset
from nin_core.network.model import predict_logits

DEFAULT_EVAL_SIZE = 2000


@dataclass(frozen=True)
class Mistake:
    """One misclassified test image: ``index`` into the full test split, classes by number."""

    index: int
    true: int
    predicted: int
    confidence: float  # the probability the model gave its (wrong) prediction


@dataclass
class Evaluation:
    """Rows of ``confusion`` are true classes, columns predicted ones; ``indices`` the test images evaluated."""

    confusion: np.ndarray
    mistakes: list[Mistake]
    indices: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def class_counts(self) -> np.ndarray:
        return self.confusion.sum(axis=1)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """Recall of each class; NaN for a class with no image in the evaluated set."""
        counts = self.class_counts
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, np.diag(self.confusion) / np.maximum(counts, 1), np.nan)


def evaluate(model: torch.nn.Module, images_u8: torch.Tensor, labels: torch.Tensor, *, resize: int,
             in_channels: int = 1, num_classes: int | None = None, indices: Iterable[int] | None = None,
             batch_size: int = 256, device: torch.device | str = "cpu", tta: bool = False) -> Evaluation:
    """Classify ``images_u8`` (N, 28, 28) uint8 in eval mode, with test-time flips if ``tta`` (as the run's test
    accuracy counts); ``indices`` name them in the test split (default 0..N-1) so the mistakes can be shown later.
    Mistakes come most confident first."""
    num_classes = num_classes or len(CLASS_NAMES)
    index = np.arange(len(labels)) if indices is None else np.asarray(list(indices), dtype=np.int64)
    if len(index) != len(labels):
        raise ValueError(f"{len(index)} indices for {len(labels)} images")
    model = model.to(device).eval()
    predicted, confidence = [], []
    with torch.inference_mode():
        for x, _ in Batches(images_u8, labels, batch_size, resize=resize, device=device, in_channels=in_channels):
            probs = torch.softmax(predict_logits(model, x, tta).float(), dim=1)
            batch_conf, batch_pred = probs.max(dim=1)
            predicted.append(batch_pred.cpu())
            confidence.append(batch_conf.cpu())
    pred = torch.cat(predicted).numpy() if predicted else np.zeros(0, np.int64)
    conf = torch.cat(confidence).numpy() if confidence else np.zeros(0, np.float32)
    true = labels.cpu().numpy().astype(np.int64)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    wrong = np.flatnonzero(pred != true)
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")]
    mistakes = [Mistake(int(index[i]), int(true[i]), int(pred[i]), float(conf[i])) for i in wrong]
    names = class_names(num_classes)
    return Evaluation(confusion, mistakes, index, names)


def subset_indices(size: int | None, seed: int = 0, total: int = 10_000) -> np.ndarray:
    """Which test images a ``size``-image evaluation uses: the same draw as ``take_subset`` (None: all)."""
    everything = torch.arange(total)
    chosen, _ = take_subset(everything, everything, None if size is None or size >= total else size, seed)
    return chosen.numpy()


def evaluate_checkpoint(path: str | os.PathLike, size: int | None = DEFAULT_EVAL_SIZE, *, seed: int = 0,
                        data_dir: str | os.PathLike | None = None, batch_size: int = 256,
                        device: torch.device | str = "cpu") -> Evaluation:
    """A checkpoint on ``size`` seeded random test images (None: all 10,000). Raises CheckpointError for a bad
    checkpoint and DataNotFoundError when Fashion-MNIST is missing."""
    model, config, meta = load_model(path, device)
    data = load_fashion_mnist(data_dir if data_dir is not None else config.train.data_dir)
    index = subset_indices(size, seed, len(data.test_labels))
    chosen = torch.from_numpy(index)
    result = evaluate(model, data.test_images[chosen], data.test_labels[chosen], resize=config.arch.resize,
                      in_channels=config.arch.in_channels, num_classes=config.arch.num_classes, indices=index,
                      batch_size=batch_size, device=device, tta=config.train.tta)
    result.meta = {"checkpoint": str(path), "size": len(index), "seed": seed, "epoch": meta.get("epoch"),
                   "data_dir": str(data.root)}
    return result


def gallery_images(indices: Iterable[int], data_dir: str | os.PathLike | None = None) -> list[np.ndarray]:
    """The 28×28 uint8 test images at ``indices`` (for a gallery of mistakes)."""
    data = load_fashion_mnist(data_dir)
    return [data.test_images[int(i)].numpy() for i in indices]


def checkpoint_stamp(path: str | os.PathLike) -> float:
    """The file's modification time: part of a cache key, so a rewritten checkpoint is evaluated afresh."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
