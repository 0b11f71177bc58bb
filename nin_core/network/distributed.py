"""Training across processes with PyTorch's DistributedDataParallel, as ``torchrun`` launches it.

``torchrun --nproc_per_node=N -m nin_core train …`` starts N processes and sets RANK, WORLD_SIZE and LOCAL_RANK;
each process trains on its own part of every global batch, DDP all-reduces the gradients, the metrics are summed
over the processes, and only rank 0 writes the run store and the checkpoints. NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, setting: str) -> torch.device:
        """Each process on its own GPU (its local rank) unless the run asked for the CPU."""
        if setting != "cpu" and torch.cuda.is_available():
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def sum(self, *values: torch.Tensor) -> list[torch.Tensor]:
        """The values summed over every process, in one collective call."""
        packed = torch.stack([v.detach().double() for v in values])
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
        return list(packed.unbind())

    def smallest(self, value: torch.Tensor) -> torch.Tensor:
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return value

    def barrier(self) -> None:
        dist.barrier()

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether any process says so: every process must take the same branch, or the next collective hangs."""
        value = torch.tensor(int(flag), device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())


def from_environment(device_setting: str = "auto") -> Distributed | None:
    """The process group this process belongs to, when launched by torchrun with more than one process (joined
    here, once); None for a plain single-process run."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size < 2:
        return None
    info = Distributed(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        # Imported before the group exists: imported after it (DDP's first use pulls it in through torch._dynamo),
        # its functions bind the live default group as a default argument, which keeps the group and gloo's threads
        # alive past shutdown() into the interpreter's exit, where now and then a rank died of SIGABRT.
        import torch.distributed.nn  # noqa: F401
        gpu = device_setting != "cpu" and torch.cuda.is_available()
        if gpu:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group("nccl" if gpu else "gloo")
    return info


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
