"""Torch side of the catalogue's detection layers (graph/layers/detection.py).

Both classes are printed in the Code view as they are, so they use only torch, nn, F and math:
an exported or generated model runs without LayerForge (and without torchvision, whose NMS
would make the output's length depend on the data: the NMS here is a fixed-size greedy pass
over the k best peaks).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from backend.compile.ops.base import Emitter

class CenterNetHead(nn.Module):
    """CenterNet's head on a feature map (N, C, H, W): a heatmap of logits per class
    (N, K, H, W) and, unless ``centroids``, the box size in input pixels (N, 2, H, W:
    stride * exp of the raw value, always positive) and the centre's offset inside its cell
    (N, 2, H, W: a sigmoid, 0..1). Each output has its own branch: a 3x3 convolution with
    ``hidden`` channels and a ReLU, then a 1x1 convolution (or one 1x1 convolution when
    ``hidden`` is 0)."""

    __constants__ = ["centroids"]

    def __init__(self, in_channels, num_classes, hidden, stride, centroids=False):
        super().__init__()
        self.stride = float(stride)
        self.centroids = bool(centroids)
        self.heatmap = self.branch(in_channels, hidden, num_classes)
        # every cell starts at "1% object" (RetinaNet's prior): the focal loss starts small
        nn.init.constant_(self.heatmap[-1].bias, math.log(0.01 / 0.99))
        if not self.centroids:
            self.size = self.branch(in_channels, hidden, 2)
            self.offset = self.branch(in_channels, hidden, 2)

    @staticmethod
    def branch(in_channels, hidden, out_channels):
        if hidden == 0:
            return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1))
        return nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(hidden, out_channels, 1))

    def forward(self, x):
        heat = self.heatmap(x)
        if self.centroids:
            return heat
        # exp of the raw value keeps sizes positive; capped so a wild start cannot overflow
        size = torch.exp(self.size(x).clamp(max=8.0)) * self.stride
        offset = torch.sigmoid(self.offset(x))
        return heat, size, offset


class DetectionDecode(nn.Module):
    """Boxes from a CenterNetHead's maps, as a fixed-size (N, k, 6) tensor of
    [x1, y1, x2, y2, score, class] rows in input pixels, best first. A 3x3 max-pool keeps
    each heatmap's local peaks; the k best of all classes are taken (score = sigmoid of the
    logit). Box mode reads the size and offset at each peak; centroid mode gives a box one
    cell wide around the cell's centre. With ``nms``, a box overlapping a better box of its
    class by more than ``iou`` is dropped (greedy, as torchvision's batched_nms, but over a
    fixed k). Rows under ``threshold`` (and dropped ones) are zeros with class -1, after the
    kept ones."""

    __constants__ = ["k", "nms"]
    source_imports = ("from typing import Optional",)  # the Code view's file needs it

    def __init__(self, k, threshold, nms, iou, stride, centroids=False):
        super().__init__()
        self.k = int(k)
        self.threshold = float(threshold)
        self.nms = bool(nms)
        self.iou = float(iou)
        self.stride = float(stride)
        self.centroids = bool(centroids)

    def forward(self, heatmap, size: Optional[torch.Tensor] = None,
                offset: Optional[torch.Tensor] = None):
        return self.decode(heatmap, size, offset, self.threshold)

    def decode(self, heatmap, size: Optional[torch.Tensor], offset: Optional[torch.Tensor],
               threshold: float):
        height, width = heatmap.shape[2], heatmap.shape[3]
        heat = torch.sigmoid(heatmap)
        peaks = F.max_pool2d(heat, 3, stride=1, padding=1)
        heat = torch.where(peaks == heat, heat, torch.zeros_like(heat))
        scores, index = heat.flatten(1).topk(self.k, dim=1)
        cells = height * width
        labels = torch.div(index, cells, rounding_mode="floor")
        cell = index - labels * cells
        ys = torch.div(cell, width, rounding_mode="floor")
        xs = (cell - ys * width).to(heat.dtype)
        ys = ys.to(heat.dtype)
        if size is not None and offset is not None:
            where = cell.unsqueeze(1).expand(-1, 2, -1)
            shift = offset.flatten(2).gather(2, where)
            wh = size.flatten(2).gather(2, where)
            cx = (xs + shift[:, 0]) * self.stride
            cy = (ys + shift[:, 1]) * self.stride
            half_w, half_h = wh[:, 0] / 2, wh[:, 1] / 2
        else:
            cx = (xs + 0.5) * self.stride
            cy = (ys + 0.5) * self.stride
            half_w = torch.full_like(cx, self.stride / 2)
            half_h = half_w
        boxes = torch.stack([(cx - half_w).clamp(0.0, width * self.stride),
                             (cy - half_h).clamp(0.0, height * self.stride),
                             (cx + half_w).clamp(0.0, width * self.stride),
                             (cy + half_h).clamp(0.0, height * self.stride)], dim=-1)
        keep = (scores >= threshold) & (scores > 0)
        if self.nms:
            keep = keep & self.survivors(boxes, labels)
            # kept rows first, still best first: dropped ones score -1 for the sort
            order = torch.where(keep, scores, scores - 2.0).argsort(dim=1, descending=True)
            boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, 4))
            scores = scores.gather(1, order)
            labels = labels.gather(1, order)
            keep = keep.gather(1, order)
        kept = keep.to(heat.dtype)
        rows = torch.cat([boxes * kept.unsqueeze(-1), (scores * kept).unsqueeze(-1),
                          torch.where(keep, labels.to(heat.dtype),
                                      torch.full_like(scores, -1.0)).unsqueeze(-1)], dim=-1)
        return rows

    def survivors(self, boxes, labels):
        """Greedy NMS over rows sorted best first: row j survives unless a surviving better
        row of its class overlaps it by more than ``iou`` (a k-step loop: fixed size)."""
        area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
        low = torch.maximum(boxes[:, :, None, :2], boxes[:, None, :, :2])
        high = torch.minimum(boxes[:, :, None, 2:], boxes[:, None, :, 2:])
        inter = (high - low).clamp(min=0.0).prod(-1)
        overlap = inter / (area[:, :, None] + area[:, None, :] - inter).clamp(min=1e-9)
        later = torch.ones(self.k, self.k, dtype=torch.bool, device=boxes.device).triu(1)
        drops = (overlap > self.iou) & (labels[:, :, None] == labels[:, None, :]) & later
        keep = torch.ones_like(labels, dtype=torch.bool)
        for i in range(self.k):
            keep = keep & ~(drops[:, i, :] & keep[:, i:i + 1])
        return keep


EMITTERS: dict[str, Emitter] = {}  # both layers are modules: called as they are
MODULES: dict[str, type] = {       # catalogue module name ("ops.X") -> own nn.Module class
    "ops.CenterNetHead": CenterNetHead,
    "ops.DetectionDecode": DetectionDecode,
}
