"""Checkpoints: a model's state dict with its configuration, written atomically, read with ``weights_only=True``.

Nothing here unpickles arbitrary objects: a checkpoint holds tensors, numbers, strings, lists and dicts only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from nin_core.i18n import _
from nin_core.network.config import ConfigError, RunConfig
from nin_core.network.model import NiN, build_model


class CheckpointError(Exception):
    """A checkpoint that cannot be written or used; the message says why in one line."""


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, config: RunConfig, *, epoch: float,
                    metrics: dict[str, float] | None = None, train_state: dict | None = None) -> Path:
    """Write to a temporary file, then rename, so a crash mid-write never leaves a half checkpoint.
    ``train_state``: what continuing the run needs (the trainer's), beside the model that prediction needs."""
    path = Path(path)
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    payload = {"format": "nin-checkpoint/1", "config": config.to_dict(), "epoch": epoch,
               "metrics": dict(metrics or {}), "model": state}
    if train_state is not None:
        payload["train_state"] = train_state
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ckpt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(payload, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        raise CheckpointError(_("could not save the checkpoint to {path}: {why}").format(
            path=path, why=e.strerror or e)) from e
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's contents, loaded without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(_("no checkpoint at {path}").format(path=path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise CheckpointError(_("{path} is not a NiN checkpoint that loads safely: it is not a checkpoint at all, "
                                "or it holds objects other than tensors and plain data").format(path=path)) from None
    if not isinstance(payload, dict) or payload.get("format") != "nin-checkpoint/1":
        raise CheckpointError(_("{path} is not a NiN checkpoint (no nin-checkpoint/1 header)").format(path=path))
    return payload


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[NiN, RunConfig, dict]:
    """The trained model in eval mode, its configuration and the checkpoint's metadata (epoch, metrics)."""
    payload = load_checkpoint(path)
    try:
        config = RunConfig.from_dict(payload["config"])
    except ConfigError as e:
        raise CheckpointError(_("{path} holds a configuration this version cannot read: {why}").format(
            path=path, why=e)) from None
    model = build_model(config.arch, init="default")
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        # PyTorch's first line is only "Error(s) in loading state_dict for NiN:"; the next one says what differs.
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)
        raise CheckpointError(_("{path} does not match its architecture: {why}").format(
            path=path, why=detail[:300])) from None
    model.to(device).eval()
    return model, config, {"epoch": payload.get("epoch"), "metrics": payload.get("metrics", {})}
