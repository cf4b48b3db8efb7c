"""Checkpoints: trained weights together with the project graph, settings and normalisation,
so opening one restores the editable network and its weights.

Only plain data and tensors are stored, and loading uses ``torch.load(weights_only=True)``:
opening a checkpoint can never execute code.
"""
from __future__ import annotations

import os
import pickle
import struct
from dataclasses import dataclass, field
from typing import Any

import torch

from backend.errors import CheckpointError
from graph.errors import ProjectFileError
from graph.fileio import atomic_write
from graph.project import Project, project_from_dict

FORMAT = "layerforge-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """What a checkpoint holds, loaded."""

    project: Project
    state_dict: dict[str, torch.Tensor]
    normalization: dict[str, Any]
    task: str
    class_names: list[str] | None
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> None:
    """Write a checkpoint atomically."""
    payload = {
        "format": FORMAT, "version": VERSION,
        "project": ckpt.project.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()},
        "normalization": ckpt.normalization, "task": ckpt.task,
        "class_names": ckpt.class_names, "epoch": ckpt.epoch, "metrics": ckpt.metrics,
        "optimizer": ckpt.optimizer, "scheduler": ckpt.scheduler, "history": ckpt.history,
    }
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Open a checkpoint; any problem raises CheckpointError naming the file and the reason."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except pickle.UnpicklingError as exc:
        if "Unsupported operand" in str(exc):  # not a pickle at all: bytes of something else
            raise CheckpointError(f"{path}: not a LayerForge checkpoint (not a PyTorch file "
                                  f"at all); it may be corrupt, or another kind of file") \
                from None
        # torch's own message suggests weights_only=False: advice we must not pass on.
        raise CheckpointError(f"{path}: refused: the file contains code or objects other than "
                              f"weights and plain data, and opening it could run that code. "
                              f"Only open checkpoints saved by LayerForge") from None
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError, KeyError,
            IndexError, struct.error) as exc:
        raise CheckpointError(f"{path}: not a readable LayerForge checkpoint "
                              f"({type(exc).__name__}); it may be corrupt or truncated") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a LayerForge checkpoint (a plain state_dict? open "
                              f"the project and load weights into it instead)")
    if not isinstance(payload.get("version"), int) or payload["version"] > VERSION:
        raise CheckpointError(f"{path}: written by a newer LayerForge; update to open it")
    try:
        project = project_from_dict(payload["project"], str(path))
        state = payload["state_dict"]
        if not isinstance(state, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise CheckpointError(f"{path}: the weights are damaged")
        return Checkpoint(
            project=project, state_dict=state,
            normalization=dict(payload.get("normalization") or {}),
            task=str(payload.get("task", "")), class_names=payload.get("class_names"),
            epoch=int(payload.get("epoch", 0)), metrics=dict(payload.get("metrics") or {}),
            optimizer=payload.get("optimizer"), scheduler=payload.get("scheduler"),
            history=list(payload.get("history") or []))
    except ProjectFileError as exc:
        raise CheckpointError(f"{path}: its network cannot be read ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a valid LayerForge checkpoint ({exc})") from None
