"""Plain-torch references and deliberate refusals for one layer family (detection: CenterNetHead
and DetectionDecode), merged into tests/backend/compile/test_catalogue_vs_torch.py (see its
docstring for what each table means). The decode's reference walks the peaks one by one and
uses torchvision's batched_nms, so the layer's fixed-size tensor version is checked against
the library's NMS.
"""
from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from graph.shapes import TensorType


def _branch(x: torch.Tensor, seq: nn.Sequential) -> torch.Tensor:
    convs = [c for c in seq if isinstance(c, nn.Conv2d)]
    if len(convs) == 1:
        return F.conv2d(x, convs[0].weight, convs[0].bias)
    hidden = F.relu(F.conv2d(x, convs[0].weight, convs[0].bias, padding=1))
    return F.conv2d(hidden, convs[1].weight, convs[1].bias)


def _head(xs, p, m):
    x = xs[0]
    heat = _branch(x, m.heatmap)
    if p["mode"] == "centroids":
        return heat
    size = torch.exp(torch.clamp(_branch(x, m.size), max=8.0)) * p["stride"]
    return heat, size, torch.sigmoid(_branch(x, m.offset))


def _decode(xs, p, m=None):
    """Peaks one image at a time: a cell is a peak when no neighbour in its 3x3 window is
    larger; the k best cells (peaks keep their score, the rest count 0), torchvision's NMS,
    the threshold, then the rows."""
    heat = torch.sigmoid(xs[0])
    n, classes, height, width = heat.shape
    k, stride = p["k"], float(p["stride"])
    heat.flatten(1).topk(k)  # torch refuses k > K*H*W as the layer does
    padded = F.pad(heat, (1, 1, 1, 1), value=-1.0)
    rows = torch.zeros(n, k, 6)
    rows[..., 5] = -1.0
    for b in range(n):
        scores = heat[b].clone()
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                scores[padded[b, :, dy:dy + height, dx:dx + width] > heat[b]] = 0.0
        top, index = scores.flatten().sort(descending=True)
        top, index = top[:k], index[:k]
        labels, cell = index // (height * width), index % (height * width)
        ys, xs_ = (cell // width).float(), (cell % width).float()
        if p["mode"] == "boxes":
            size, offset = xs[1][b].flatten(1), xs[2][b].flatten(1)
            cx, cy = (xs_ + offset[0, cell]) * stride, (ys + offset[1, cell]) * stride
            half_w, half_h = size[0, cell] / 2, size[1, cell] / 2
        else:
            cx, cy = (xs_ + 0.5) * stride, (ys + 0.5) * stride
            half_w = half_h = torch.full_like(cx, stride / 2)
        boxes = torch.stack([(cx - half_w).clamp(0, width * stride),
                             (cy - half_h).clamp(0, height * stride),
                             (cx + half_w).clamp(0, width * stride),
                             (cy + half_h).clamp(0, height * stride)], dim=1)
        keep = torch.arange(len(top))
        if p["nms"]:
            keep = torchvision.ops.batched_nms(boxes, top, labels, p["iou"])  # best first
        keep = keep[(top[keep] >= p["threshold"]) & (top[keep] > 0)]
        for row, i in enumerate(keep.tolist()):
            rows[b, row] = torch.cat([boxes[i], top[i:i + 1], labels[i:i + 1].float()])
    return rows


TORCH_OPS: dict[str, Any] = {          # module name -> (xs, p, layer) -> tensor or tuple
    "ops.CenterNetHead": _head,
    "ops.DetectionDecode": _decode,
}
REASONS: dict[str, str] = {            # refusal key -> why we refuse what torch runs
    "decode_layout": "DetectionDecode given size/offset maps that are not (N, 2, H, W) of the "
                     "heatmap's H and W: torch reads whatever lies at the peak's index",
}
DELIBERATE_EXAMPLES: list[tuple] = [   # (reason, type, param overrides, [TensorType, ...])
    ("decode_layout", "DetectionDecode", {"k": 4},
     [TensorType((3, 4, 4)), TensorType((3, 4, 4)), TensorType((2, 4, 4))]),
    ("decode_layout", "DetectionDecode", {"k": 4},
     [TensorType((3, 4, 4)), TensorType((2, 5, 5)), TensorType((2, 4, 4))]),
    ("unbatched", "CenterNetHead", {"hidden": 4}, [TensorType((2, 5))]),  # batch of 2 = C
]
UNBATCHED_RANK: dict[str, int] = {"CenterNetHead": 4}  # its convolutions run unbatched too
TOKEN_LAYERS: set[str] = set()
CAPS: dict[str, int] = {}
FLOP_COUNTED: set[str] = {"CenterNetHead"}  # convolutions only: the counter sees every MAC
DEFAULT_INPUTS: dict[str, list[TensorType]] = {  # heatmap, size and offset of one head
    "DetectionDecode": [TensorType((8, 8, 8)), TensorType((2, 8, 8)), TensorType((2, 8, 8))],
}


def refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The REASONS key if this case is one we refuse on purpose, else None."""
    if type_ == "DetectionDecode" and p.get("mode") == "boxes" and ins[0].rank == 4:
        _, height, width = ins[0].dims
        if any(t.dims != (2, height, width) for t in ins[1:]):
            return "decode_layout"
    return None
