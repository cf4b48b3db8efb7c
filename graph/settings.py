"""Training settings: declared once (like layer parameters) so the project file, the trainer,
the CLI and the GUI form all read the same names, defaults, ranges and help."""
from __future__ import annotations

from typing import Any

from graph.layers.base import ParamSpec

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LOSSES = ("cross_entropy", "mse", "l1", "bce_with_logits", "nll", "centernet")
SCHEDULES = ("none", "step", "cosine", "one_cycle")
DEVICES = ("auto", "cpu", "cuda", "mps")

TRAINING_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("optimizer", "choice", "adam", "How weights are updated.", choices=OPTIMIZERS),
    ParamSpec("learning_rate", "float", 1e-3, "Step size of each update.", min=1e-8, max=10.0),
    ParamSpec("momentum", "float", 0.9, "Momentum (SGD, RMSprop).", min=0.0, max=0.999),
    ParamSpec("weight_decay", "float", 0.0, "L2 penalty on the weights.", min=0.0, max=1.0),
    ParamSpec("loss", "choice", "cross_entropy", "What training minimises: cross_entropy for "
              "classes, mse/l1 for numbers, centernet for boxes (detection).", choices=LOSSES),
    ParamSpec("schedule", "choice", "none", "How the learning rate changes over the run.",
              choices=SCHEDULES),
    ParamSpec("step_size", "int", 10, "Epochs between decays (step schedule).", min=1,
              max=10_000),
    ParamSpec("gamma", "float", 0.1, "Decay factor (step schedule).", min=1e-6, max=1.0),
    ParamSpec("epochs", "int", 10, "Passes over the training data.", min=1, max=100_000),
    ParamSpec("batch_size", "int", 64, "Samples per update.", min=1, max=65536),
    ParamSpec("grad_clip", "float", 0.0, "Clip the gradient norm to this (0 = off).", min=0.0,
              max=1e6),
    ParamSpec("seed", "int", 0, "Random seed: same seed, same run.", min=0, max=2**31 - 1),
    ParamSpec("device", "choice", "auto", "Where to train (auto: CUDA, then MPS, then CPU).",
              choices=DEVICES),
    ParamSpec("mixed_precision", "bool", False, "Faster float16/bfloat16 math on CUDA."),
    ParamSpec("early_stopping", "int", 0, "Stop after this many epochs without validation "
              "improvement (0 = off).", min=0, max=10_000),
    ParamSpec("flip", "bool", False, "Augmentation: random horizontal flips (images)."),
    ParamSpec("shift", "int", 0, "Augmentation: random shift up to this many pixels.", min=0,
              max=256),
    ParamSpec("rotate", "float", 0.0, "Augmentation: random rotation up to ± degrees.",
              min=0.0, max=180.0),
    ParamSpec("noise", "float", 0.0, "Augmentation: gaussian noise of this std.", min=0.0,
              max=10.0),
)
TRAINING_INDEX = {p.name: p for p in TRAINING_PARAMS}

# Settings the trainer can take on between two batches while a run is paused.
LIVE_SETTINGS = frozenset({"learning_rate", "momentum", "weight_decay", "grad_clip", "epochs",
                           "early_stopping", "flip", "shift", "rotate", "noise"})


def default_training() -> dict[str, Any]:
    """A fresh dict of default training settings."""
    return {p.name: p.default for p in TRAINING_PARAMS}


def coerce_training(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Defaults overridden by ``values``; returns (settings, problems in words)."""
    settings, problems = default_training(), []
    for key, value in values.items():
        spec = TRAINING_INDEX.get(key)
        if spec is None:
            problems.append(f"unknown training setting {key!r}")
            continue
        problem = spec.problem(value)
        if problem:
            problems.append(f"training setting {problem}")
            continue
        settings[key] = spec.coerce(value)
    return settings, problems
