"""Grad-CAM: which part of the input made a CNN classifier choose its class.

Selvaraju et al. 2017: weight the last convolution's feature maps by the mean gradient of the
class score over each map, sum, ReLU, and scale to [0, 1] at the input's size.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from backend.errors import InferenceError


def grad_cam(model: nn.Module, layer: str, x: torch.Tensor, class_index: int) -> np.ndarray:
    """Heatmap (H, W) in [0, 1] at ``x``'s spatial size for ``class_index``.

    ``layer`` names the convolution module (the graph node's name, which is also the module's
    name in the compiled network). ``x`` is one preprocessed sample batch (1, C, H, W) or
    (1, F) for a flattened input of a square image.
    """
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise InferenceError(f"Grad-CAM: the network has no layer '{layer}'") from None
    saved: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        saved["act"] = output

    handle = module.register_forward_hook(keep)
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            inp = x.detach().clone().requires_grad_(False)
            out = model(inp)
            if isinstance(out, (tuple, list)):
                out = out[0]
            model.zero_grad(set_to_none=True)
            out.reshape(1, -1)[0, class_index].backward()
    finally:
        handle.remove()
        model.train(was_training)
    act = saved.get("act")
    if act is None or act.grad is None or act.dim() != 4:
        raise InferenceError(f"Grad-CAM: layer '{layer}' gave no 2-D feature maps")
    weights = act.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    size = x.shape[-2:] if x.dim() == 4 else act.shape[-2:]
    cam = torch.nn.functional.interpolate(cam, size=tuple(size), mode="bilinear",
                                          align_corners=False)[0, 0]
    top = float(cam.max())
    return (cam / top).numpy() if top > 0 else cam.numpy()


def overlay(image_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0,1] heatmap (any size) over an RGB uint8 image (a new array)."""
    import cv2

    h, w = image_rgb.shape[:2]
    heat = cv2.resize((heatmap * 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    colour = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(image_rgb, 1.0 - alpha, colour, alpha, 0.0)
