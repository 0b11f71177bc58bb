"""Which device a run uses: ``auto`` picks the GPU when there is one."""

from __future__ import annotations

import torch

from nin_core.i18n import _, ngettext
from nin_core.network.config import ConfigError, ConfigIssue
from nin_core.network.hints import CPU_THREAD, CPU_THREADS


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for a configuration's ``device`` setting; a clear ConfigError if it is not here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError([ConfigIssue("train.device", _("mps was asked for, but this machine has no Apple GPU"))])
        return torch.device("mps")
    if name.startswith("cuda"):
        index = int(name.split(":")[1]) if ":" in name else 0
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            message = (ngettext("{name} was asked for, but this machine has {count} CUDA device",
                                "{name} was asked for, but this machine has {count} CUDA devices", count) if count
                       else _("{name} was asked for, but this machine has no CUDA GPU"))
            raise ConfigError([ConfigIssue("train.device", message.format(name=name, count=count))])
        return torch.device("cuda", index)
    raise ConfigError([ConfigIssue("train.device", _("must be auto, cpu, cuda, cuda:N or mps, got {name}").format(
        name=repr(name)))])


def device_label(device: torch.device) -> str:
    """What a person reads: the GPU's name, or CPU with its thread count. In English: a run's progress stores it,
    and a page shows it with ``hints.shown_message``."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return (CPU_THREAD if threads == 1 else CPU_THREADS).format(threads=threads)
    return str(device)


def available_devices() -> list[str]:
    """Device settings that work on this machine, the default first."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def gpu_count() -> int:
    """CUDA GPUs visible here: a run can use them all at once through torchrun."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a host clock measures it (a CPU runs synchronously already)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
