"""Object detection layers: a CenterNet-style head and the decoder that turns its maps into boxes.

CenterNetHead sits on a backbone's feature map (stride 4, 8 or 16 of the image) and predicts,
for every cell, a heatmap score per class (is an object's centre here?), the box size in
pixels and where the centre lies inside the cell. With mode "centroids" (Edge Impulse's FOMO)
it predicts the heatmap alone: where objects are, not how big. DetectionDecode finds the
heatmap's peaks (a 3x3 max-pool keeps local maxima), takes the k best and writes them as a
fixed-size (N, k, 6) tensor of [x1, y1, x2, y2, score, class] rows in input-image pixels, so
an exported model has a static output: rows under the score threshold are zeros with class -1.
"""
from __future__ import annotations

from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, PortSpec, expect_rank

MODES = ("boxes", "centroids")
STRIDES = (2, 4, 8, 16, 32)
_FEATURES = "(N, C, H, W)"


def _centroids(p: dict[str, Any]) -> bool:
    return p.get("mode") == "centroids"


# ---- CenterNetHead ---------------------------------------------------------------------------

def _head_outputs(p: dict[str, Any]) -> tuple[PortSpec, ...]:
    heatmap = PortSpec("heatmap", "One map per class (N, K, H, W) of logits: sigmoid gives the "
                                  "chance that an object's centre lies in each cell.")
    if _centroids(p):
        return (heatmap,)
    return (heatmap,
            PortSpec("size", "Box width and height in input pixels at each cell (N, 2, H, W)."),
            PortSpec("offset", "Where the centre lies inside each cell, 0..1 across and down "
                               "(N, 2, H, W)."))


def _head(ins, p):
    x = ins[0]
    expect_rank(x, (4,), _FEATURES, "feed it a backbone's feature map (an image-like tensor)")
    _, height, width = x.dims
    maps = [x.with_dims((p["num_classes"], height, width))]
    if not _centroids(p):
        maps += [x.with_dims((2, height, width))] * 2
    return maps


def _branch(channels: int, hidden: int, out: int) -> tuple[int, int]:
    """(parameters, MACs per cell) of one head branch: 3x3 conv + ReLU + 1x1 conv, or a single
    1x1 conv when hidden is 0."""
    if hidden == 0:
        return channels * out + out, channels * out
    return (9 * channels * hidden + hidden + hidden * out + out,
            9 * channels * hidden + hidden * out)


def _head_cost(ins, outs, p) -> tuple[int, int]:
    channels, height, width = ins[0].dims
    branches = [_branch(channels, p["hidden"], p["num_classes"])]
    if not _centroids(p):
        branches += [_branch(channels, p["hidden"], 2)] * 2
    return sum(b[0] for b in branches), sum(b[1] for b in branches) * height * width


def _head_args(ins, p) -> dict[str, Any]:
    return {"in_channels": ins[0].dims[0], "num_classes": p["num_classes"],
            "hidden": p["hidden"], "stride": p["stride"], "centroids": _centroids(p)}


CENTERNET_HEAD = LayerSpec(
    type="CenterNetHead", category="Detection",
    description="Object detection head (CenterNet, 'Objects as Points'): on a feature map of "
                "stride 4, 8 or 16 it predicts a heatmap per class whose peaks are object "
                "centres, each box's size and the centre's offset inside its cell. Mode "
                "'centroids' (FOMO) predicts the heatmap only. Feed its outputs to a "
                "DetectionDecode; the detection task trains it (focal loss on the heatmap, "
                "L1 and GIoU on the boxes).",
    params=(
        ParamSpec("num_classes", "int", 10, "Object classes (one heatmap each).", min=1,
                  max=1000),
        ParamSpec("hidden", "int", 64, "Channels of each branch's 3x3 convolution (0: a single "
                  "1x1 convolution per branch, the smallest head).", min=0, max=4096),
        ParamSpec("stride", "choice", 8, "How many input pixels one cell of the feature map "
                  "spans (the backbone's total downsampling): sizes come out in input pixels.",
                  choices=STRIDES),
        ParamSpec("mode", "choice", "boxes", "boxes: heatmap, size and offset; centroids: the "
                  "heatmap only (FOMO: where objects are, not how big).", choices=MODES),
    ),
    infer=_head, module="ops.CenterNetHead", module_args=_head_args, cost=_head_cost,
    output_rule=_head_outputs, key_params=("num_classes", "stride"), default_name="head",
    aliases=("CenterNet", "FOMO", "detection head", "object detection", "YOLO", "anchor-free"),
)


# ---- DetectionDecode ------------------------------------------------------------------------

def _decode_inputs(p: dict[str, Any]) -> tuple[PortSpec, ...]:
    heatmap = PortSpec("heatmap", "The head's class heatmap logits (N, K, H, W).")
    if _centroids(p):
        return (heatmap,)
    return (heatmap, PortSpec("size", "Box sizes in pixels (N, 2, H, W)."),
            PortSpec("offset", "Centre offsets inside the cells (N, 2, H, W)."))


def _decode(ins, p):
    heat = ins[0]
    expect_rank(heat, (4,), "(N, K, H, W)", "feed it a CenterNetHead's heatmap")
    classes, height, width = heat.dims
    for port, t in enumerate(ins[1:], start=1):
        wanted = f"(N, 2, {height}, {width})"
        if t.dtype != "float" or t.dims != (2, height, width):
            name = ("size", "offset")[port - 1]
            fix = f"connect the same CenterNetHead's {name} output"
            raise ShapeError(f"expects the {name} maps {wanted} beside a heatmap "
                             f"{heat} but gets {t}: {fix}", port=port, expected=wanted, fix=fix)
    cells = classes * height * width
    if p["k"] > cells:
        fix = f"set k to at most {cells}"
        raise ShapeError(f"keeps the k = {p['k']} best peaks but the heatmap {heat} has only "
                         f"{cells} cells: {fix}", expected=f"k <= {cells}", fix=fix)
    return [heat.with_dims((p["k"], 6))]


def _decode_args(ins, p) -> dict[str, Any]:
    return {"k": p["k"], "threshold": p["threshold"], "nms": p["nms"],
            "iou": p["iou"], "stride": p["stride"], "centroids": _centroids(p)}


DETECTION_DECODE = LayerSpec(
    type="DetectionDecode", category="Detection",
    description="Turns a CenterNetHead's maps into boxes: a 3x3 max-pool keeps each "
                "heatmap's local peaks, the k best become rows [x1, y1, x2, y2, score, class] "
                "in input-image pixels (a fixed-size (N, k, 6) output, so exports stay "
                "static); rows under the score threshold are zeros with class -1. Optional "
                "non-maximum suppression per class.",
    params=(
        ParamSpec("k", "int", 50, "Detections per image: the rows of the output.", min=1,
                  max=1000),
        ParamSpec("threshold", "float", 0.3, "Score below which a row is left empty (zeros, "
                  "class -1).", min=0.0, max=1.0),
        ParamSpec("nms", "bool", False, "Non-maximum suppression: drop a box that overlaps a "
                  "better box of the same class (peaks rarely need it)."),
        ParamSpec("iou", "float", 0.5, "Overlap (IoU) above which NMS drops the weaker box.",
                  min=0.0, max=1.0),
        ParamSpec("stride", "choice", 8, "Input pixels per heatmap cell (the head's stride).",
                  choices=STRIDES),
        ParamSpec("mode", "choice", "boxes", "boxes: reads size and offset; centroids: the "
                  "heatmap only, each detection a cell-sized box around its centre.",
                  choices=MODES),
    ),
    infer=_decode, module="ops.DetectionDecode", module_args=_decode_args,
    # the 3x3 peak search: about 9 comparisons per heatmap value
    cost=lambda ins, outs, p: (0, 9 * ins[0].numel),
    input_rule=_decode_inputs, outputs=(PortSpec("out", "Boxes (N, k, 6): x1, y1, x2, y2, score, "
                                                           "class per row, best first."),),
    key_params=("k", "threshold"), default_name="decode",
    aliases=("detection output", "NMS", "non-maximum suppression", "box decoder", "postprocess"),
)

SPECS: tuple[LayerSpec, ...] = (CENTERNET_HEAD, DETECTION_DECODE)
