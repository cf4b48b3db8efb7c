"""Data-parallel training across processes and machines, launched by ``torchrun``.

``layerforge train FILE`` runs unchanged under ``torchrun --nproc-per-node N`` (one machine)
or multi-node torchrun: torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR in each
process's environment, and the trainer then

- joins the process group (NCCL on GPUs, gloo on CPU),
- wraps the model in DistributedDataParallel (gradients are averaged across ranks, so every
  rank keeps identical weights),
- gives each rank its own slice of every epoch's shuffled order (the distributed sampler's
  job, done on the in-memory index permutation the trainer already draws),
- averages the training metrics across ranks, and
- lets only rank 0 write checkpoints, logs and print.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from backend.errors import TrainingError


@dataclass(frozen=True)
class World:
    """This process's place in a distributed run."""

    rank: int
    size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = World(0, 1, 0)


def world_from_env() -> World:
    """The world torchrun describes in the environment (a single process when it doesn't)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise TrainingError("RANK / WORLD_SIZE / LOCAL_RANK must be whole numbers; launch "
                            "distributed runs with torchrun") from None
    return World(rank, size, local) if size > 1 else SINGLE


def join(world: World, device: torch.device) -> torch.device:
    """Join the process group (once per process) and return this rank's device: the GPU
    numbered LOCAL_RANK when training on CUDA, else the CPU with gloo."""
    if world.size == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise TrainingError("WORLD_SIZE is set but MASTER_ADDR is not: launch distributed "
                                "runs with torchrun (e.g. torchrun --standalone "
                                "--nproc-per-node 2 -m backend.cli train project.json)")
        dist.init_process_group(backend=backend)
    return device


def wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """The module the training step calls: DDP around ``model`` in a distributed run."""
    if world.size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(order: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's part of an epoch's shuffled sample order (every rank draws the same order
    from the same seed; rank r takes every size-th sample from r: DistributedSampler's rule)."""
    if world.size == 1:
        return order
    usable = len(order) // world.size * world.size  # equal shares: no rank waits for another
    return order[world.rank:usable:world.size]


def mean(values: list[float], world: World) -> list[float]:
    """Average per-rank numbers across all ranks (identity in a single process)."""
    if world.size == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return (tensor / world.size).cpu().tolist()


def leave(world: World) -> None:
    """Leave the process group at the end of the run."""
    if world.size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def launch_script(project_file: str, procs_per_node: int | str = "auto",
                  epochs: int | None = None) -> str:
    """A bash script that trains ``project_file`` with torchrun on one machine or a cluster.

    Run it as is on one machine; on a cluster run it on every node with NNODES, NODE_RANK and
    MASTER_ADDR set (the same MASTER_ADDR everywhere: the address of node 0)."""
    extra = f" --epochs {int(epochs)}" if epochs else ""
    return f"""#!/usr/bin/env bash
# Written by LayerForge: data-parallel training of {os.path.basename(project_file)} with torchrun.
#   one machine:  ./launch.sh
#   a cluster:    NNODES=4 NODE_RANK=<0..3> MASTER_ADDR=<node 0's address> ./launch.sh  (on each node)
# GPUs train with NCCL (one process per GPU), CPUs with gloo. Only rank 0 writes checkpoints.
set -euo pipefail
cd "$(dirname "$0")"
NNODES="${{NNODES:-1}}"
NODE_RANK="${{NODE_RANK:-0}}"
MASTER_ADDR="${{MASTER_ADDR:-127.0.0.1}}"
MASTER_PORT="${{MASTER_PORT:-29500}}"
NPROC="${{NPROC_PER_NODE:-{procs_per_node}}}"  # auto: one per GPU, else one per CPU core
OUT="${{OUT:-runs/$(date +%Y%m%d-%H%M%S)}}"
if [ "$NNODES" = "1" ]; then
  RDZV=(--standalone)
else
  RDZV=(--nnodes "$NNODES" --node-rank "$NODE_RANK" --master-addr "$MASTER_ADDR" --master-port "$MASTER_PORT")
fi
exec torchrun "${{RDZV[@]}}" --nproc-per-node "$NPROC" -m backend.cli train \\
  "{os.path.basename(project_file)}" --out "$OUT"{extra}
"""
