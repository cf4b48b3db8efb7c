"""The export formats by name, with a one-line description each (no torch: the CLI's parser
and the GUI's format picker list them without importing the exporters)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its name (CLI/GUI), title, file suffix and a one-line description."""

    name: str
    title: str
    suffix: str
    description: str


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("torchscript", "TorchScript", ".pt",
                 "one file for torch.jit.load, libtorch (C++) and tch-rs (Rust), with the "
                 "preprocessing record inside"),
    ExportFormat("onnx", "ONNX", ".onnx",
                 "for onnxruntime, TensorRT, OpenVINO, browsers (checked with onnxruntime)"),
    ExportFormat("pt2", "torch.export (.pt2)", ".pt2",
                 "torch.export ExportedProgram: the successor of TorchScript (torch.export.load)"),
    ExportFormat("int8", "int8 quantised (TorchScript)", ".pt",
                 "about 4x smaller and faster on edge CPUs; loads with torch.jit.load"),
    ExportFormat("python", "Python source + weights", ".py",
                 "a readable nn.Module class needing only torch, with its weights beside it"),
    ExportFormat("script", "Inference script (predict.py)", ".py",
                 "predict.py + model: runs on an image/CSV/text with the training "
                 "preprocessing"),
    ExportFormat("state_dict", "Weights only (state_dict)", ".pt",
                 "the plain tensors, to load into the same network in your own code"),
    ExportFormat("checkpoint", "LayerForge checkpoint", ".pt",
                 "network + weights + preprocessing: reopens in the LayerForge editor"),
)}


def default_path(fmt: str, folder: str | os.PathLike, stem: str) -> Path:
    """Where an export goes by default: ``folder/stem`` + a tag and the format's suffix."""
    if fmt == "script":
        return Path(folder) / "predict.py"
    tag = {"int8": ".int8", "state_dict": ".weights", "checkpoint": ".checkpoint"}.get(fmt, "")
    return Path(folder) / f"{stem}{tag}{FORMATS[fmt].suffix}"
