"""Cheap per-layer statistics while training: activation mean/std and zero fraction, and the
gradient norm of each layer's parameters, taken on sampled batches only.

Hooks exist only during a sampled batch (added before its forward, removed after its
backward), so the batches in between run exactly the plain model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

VANISHING = 1e-6   # gradient norms below this: the layer has stopped learning
EXPLODING = 1e3    # above this: training is about to diverge


@dataclass(frozen=True)
class LayerStat:
    act_mean: float
    act_std: float
    zero_fraction: float   # share of exact zeros (dead ReLUs)
    grad_norm: float       # nan for layers without parameters

    @property
    def status(self) -> str:
        """"vanishing", "exploding" or "ok"."""
        if math.isnan(self.grad_norm):
            return "ok"
        if self.grad_norm < VANISHING:
            return "vanishing"
        if self.grad_norm > EXPLODING or math.isinf(self.grad_norm):
            return "exploding"
        return "ok"


class LayerMonitor:
    """Collects ``LayerStat`` per named submodule (= graph node) for one batch at a time."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._handles: list[Any] = []
        self._acts: dict[str, tuple[float, float, float]] = {}

    def start(self) -> None:
        """Hook every layer for the coming forward pass."""
        self._acts.clear()
        for name, module in self.model.named_children():
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            out = output[0] if isinstance(output, tuple) else output
            if not isinstance(out, torch.Tensor) or not out.is_floating_point():
                return
            with torch.no_grad():
                flat = out.detach().float()
                self._acts[name] = (float(flat.mean()), float(flat.std()) if flat.numel() > 1
                                    else 0.0, float((flat == 0).float().mean()))
        return hook

    def finish(self) -> dict[str, LayerStat]:
        """After backward: remove the hooks and return the statistics of each layer."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        stats = {}
        for name, module in self.model.named_children():
            grads = [p.grad for p in module.parameters() if p.grad is not None]
            norm = math.sqrt(sum(float(g.detach().float().pow(2).sum()) for g in grads)) \
                if grads else math.nan
            mean, std, zeros = self._acts.get(name, (math.nan, math.nan, math.nan))
            stats[name] = LayerStat(mean, std, zeros, norm)
        return stats
