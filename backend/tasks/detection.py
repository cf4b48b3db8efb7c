"""Object detection: boxes and classes per image (a CenterNetHead, then a DetectionDecode).

The network's Output gives a fixed-size (N, k, 6) tensor of [x1, y1, x2, y2, score, class]
rows in input pixels (rows under the decoder's threshold are zeros with class -1). Training
reads the head's own maps (heatmap logits, sizes, offsets), caught on their way out of the
CenterNetHead, against targets rebuilt from the dataset's boxes: CenterNet's penalty-reduced
focal loss on Gaussian heatmaps, L1 on the offsets and sizes at the centres and GIoU on the
boxes there. The metrics are COCO's, computed by torchmetrics' MeanAveragePrecision (the
faster-coco-eval backend): mAP@0.5 ranks runs, mAP@[.5:.95] beside it; precision, recall and
F1 at the decoder's threshold; centroid F1 (a predicted centre inside a true box of its class)
for centroid-only (FOMO) heads.

Targets are the data room's padded rows (N, M, 5): x1, y1, x2, y2, label, label -1 for unused
rows (``backend/data/detection.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from backend.compile.ops.detection import CenterNetHead, DetectionDecode
from backend.data import DataBundle, Split
from backend.errors import TrainingError
from backend.tasks.base import FitContext, Metric, Task, model_device
from graph.validate import analyze

MAP50 = Metric("map50", "mAP@0.5", higher_is_better=True)
MAP50_95 = Metric("map50_95", "mAP@[.5:.95]", higher_is_better=True)
FIGURES = (MAP50_95, Metric("precision", "precision", higher_is_better=True),
           Metric("recall", "recall", higher_is_better=True),
           Metric("f1", "F1", higher_is_better=True),
           Metric("centroid_f1", "centroid F1", higher_is_better=True))
LOSS_NAME = "centernet"
EVAL_THRESHOLD = 0.001  # mAP is measured on every peak above this, as COCO's evaluation does
MATCH_IOU = 0.5         # precision/recall/F1: a detection is right at IoU >= 0.5 (VOC, mAP@0.5)

Target = dict[str, torch.Tensor]


def unpad(y: torch.Tensor) -> list[Target]:
    """The data room's padded rows (N, M, 5) as one {"boxes", "labels"} dict per image."""
    return [{"boxes": rows[rows[:, 4] >= 0, :4].float(), "labels": rows[rows[:, 4] >= 0, 4].long()}
            for rows in y]


# ---- what the network gives -----------------------------------------------------------------

@dataclass
class DetectionOutput:
    """One forward pass of a detector: the boxes its Output gives and the maps training and
    evaluation need (caught from the CenterNetHead and at the DetectionDecode's door)."""

    boxes: torch.Tensor                      # (N, k, 6) what the Output gives
    maps: tuple[torch.Tensor, ...]           # the head's outputs: heatmap[, size, offset]
    image_size: tuple[int, int]              # input H, W
    decoder: DetectionDecode | None = None
    decoder_inputs: tuple[torch.Tensor, ...] = ()

    def float(self) -> "DetectionOutput":  # the trainer's habit of out.float() keeps working
        return self

    def rows(self, threshold: float) -> torch.Tensor:
        """(N, k, 6) rows decoded again at another score threshold (the same rows when there
        is no decoder to ask)."""
        if self.decoder is None:
            return self.boxes
        return self.decoder.decode(self.decoder_inputs[0], *self._size_offset(), threshold)

    def _size_offset(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        rest = self.decoder_inputs[1:]
        return (rest[0], rest[1]) if len(rest) == 2 else (None, None)


def _modules(model: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


def run_detector(model: nn.Module, x: torch.Tensor) -> DetectionOutput:
    """Run ``model`` on ``x``, keeping the CenterNetHead's maps and the decoder's inputs."""
    heads, decoders = _modules(model, CenterNetHead), _modules(model, DetectionDecode)
    if len(heads) != 1:
        raise TrainingError(f"the detection task trains one CenterNetHead; this network has "
                            f"{len(heads)}")
    caught: dict[str, Any] = {}

    def head_hook(module, args, out):
        caught["maps"] = out if isinstance(out, tuple) else (out,)

    def decoder_hook(module, args):
        caught["decoder"] = tuple(args)

    handles = [heads[0].register_forward_hook(head_hook)]
    if len(decoders) == 1:
        handles.append(decoders[0].register_forward_pre_hook(decoder_hook))
    try:
        boxes = model(x)
    finally:
        for handle in handles:
            handle.remove()
    decoder = decoders[0] if len(decoders) == 1 else None
    return DetectionOutput(boxes, caught["maps"], (int(x.shape[-2]), int(x.shape[-1])),
                           decoder, caught.get("decoder", ()))


# ---- the loss -------------------------------------------------------------------------------

def gaussian_radius(height: torch.Tensor, width: torch.Tensor,
                    min_overlap: float = 0.7) -> torch.Tensor:
    """CenterNet's radius (CornerNet's formula): how far a corner may move while the box still
    overlaps the true one by ``min_overlap``, per box (sizes in heatmap cells)."""
    b1, c1 = height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (height + width), (1 - min_overlap) * width * height
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


@dataclass
class CenterTargets:
    """What the head should output for a batch, on its grid."""

    heatmap: torch.Tensor    # (N, K, h, w): 1 at each centre, a Gaussian around it
    batch: torch.Tensor      # (B,) the image of each box
    cells: torch.Tensor      # (B, 2) the centre's cell (x, y)
    offset: torch.Tensor     # (B, 2) the centre inside its cell, 0..1
    boxes: torch.Tensor      # (B, 4) the true boxes, input pixels
    stride: tuple[float, float]


def center_targets(targets: list[Target], classes: int, grid: tuple[int, int],
                   image_size: tuple[int, int], device: torch.device) -> CenterTargets:
    """Gaussian heatmaps (radius from each box's size, as CenterNet) and the centre cells."""
    h, w = grid
    sy, sx = image_size[0] / h, image_size[1] / w
    counts = [len(t["labels"]) for t in targets]
    boxes = torch.cat([t["boxes"] for t in targets]).to(device).float().reshape(-1, 4)
    labels = torch.cat([t["labels"] for t in targets]).to(device).long().reshape(-1)
    batch = torch.repeat_interleave(torch.arange(len(targets), device=device),
                                    torch.tensor(counts, device=device))
    heatmap = torch.zeros(len(targets) * classes, h * w, device=device)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 / sx
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 / sy
    cells = torch.stack([cx.floor().clamp(0, w - 1), cy.floor().clamp(0, h - 1)], dim=1)
    if len(boxes):
        bw = (boxes[:, 2] - boxes[:, 0]) / sx
        bh = (boxes[:, 3] - boxes[:, 1]) / sy
        radius = gaussian_radius(bh, bw).clamp(min=0).floor()
        sigma = (2 * radius + 1) / 6
        ys = torch.arange(h, device=device).view(1, h, 1).float()
        xs = torch.arange(w, device=device).view(1, 1, w).float()
        dy = ys - cells[:, 1].view(-1, 1, 1)
        dx = xs - cells[:, 0].view(-1, 1, 1)
        spot = torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma.view(-1, 1, 1) ** 2))
        inside = (dx.abs() <= radius.view(-1, 1, 1)) & (dy.abs() <= radius.view(-1, 1, 1))
        spot = torch.where(inside, spot, torch.zeros_like(spot))
        where = (batch * classes + labels).view(-1, 1).expand(-1, h * w)
        heatmap.scatter_reduce_(0, where, spot.reshape(len(boxes), -1), "amax")
    offset = torch.stack([cx, cy], dim=1) - cells
    return CenterTargets(heatmap.reshape(len(targets), classes, h, w), batch, cells.long(),
                         offset, boxes, (sx, sy))


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4) on heatmap logits, per object:
    centres (target 1) learn to say 1; elsewhere the penalty shrinks near a centre."""
    pos = target.eq(1).to(logits.dtype)
    p = torch.sigmoid(logits)
    pos_loss = F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_loss = F.logsigmoid(-logits) * p ** 2 * (1 - target) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


class CenterNetLoss(nn.Module):
    """focal(heatmap) + L1(offset) + 0.1 · L1(size, in cells) + GIoU(box), the last three at
    the true centres (CenterNet's weights, with torchvision's GIoU loss on the boxes)."""

    def __init__(self, size_weight: float = 0.1, offset_weight: float = 1.0,
                 giou_weight: float = 1.0) -> None:
        super().__init__()
        self.size_weight, self.offset_weight = size_weight, offset_weight
        self.giou_weight = giou_weight

    def forward(self, out: DetectionOutput, y: torch.Tensor | list[Target]) -> torch.Tensor:
        from torchvision.ops import generalized_box_iou_loss

        targets = unpad(y) if isinstance(y, torch.Tensor) else y
        heat = out.maps[0].float()
        t = center_targets(targets, heat.shape[1], (heat.shape[2], heat.shape[3]),
                           out.image_size, heat.device)
        loss = focal_loss(heat, t.heatmap)
        if len(out.maps) < 3 or not len(t.batch):
            return loss
        size, offset = out.maps[1].float(), out.maps[2].float()
        b, cx, cy = t.batch, t.cells[:, 0], t.cells[:, 1]
        pred_offset = offset[b, :, cy, cx]
        pred_size = size[b, :, cy, cx]
        scale = torch.tensor(t.stride, device=heat.device)
        true_size = torch.stack([t.boxes[:, 2] - t.boxes[:, 0], t.boxes[:, 3] - t.boxes[:, 1]], 1)
        centre = (t.cells + pred_offset) * scale
        pred_boxes = torch.cat([centre - pred_size / 2, centre + pred_size / 2], dim=1)
        loss = loss + self.offset_weight * F.l1_loss(pred_offset, t.offset)
        loss = loss + self.size_weight * F.l1_loss(pred_size / scale, true_size / scale)
        return loss + self.giou_weight * generalized_box_iou_loss(pred_boxes, t.boxes,
                                                                  reduction="mean")


# ---- the metrics -------------------------------------------------------------------------

def detections(rows: torch.Tensor) -> list[Target]:
    """(N, k, 6) decoder rows as torchmetrics' prediction dicts (empty rows left out)."""
    out = []
    for r in rows.detach().float().cpu():
        keep = (r[:, 5] >= 0) & (r[:, 4] > 0)
        out.append({"boxes": r[keep, :4], "scores": r[keep, 4], "labels": r[keep, 5].long()})
    return out


def mean_average_precision(predictions: list[Target], targets: list[Target],
                           class_metrics: bool = False) -> dict[str, Any]:
    """COCO mAP by torchmetrics (faster-coco-eval backend): map (at IoU .5:.95), map_50, ..."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox",
                                  backend="faster_coco_eval", class_metrics=class_metrics)
    metric.update(predictions, [{"boxes": t["boxes"].float().cpu(),
                                 "labels": t["labels"].long().cpu()} for t in targets])
    return metric.compute()


def match_counts(predictions: list[Target], targets: list[Target],
                 iou: float = MATCH_IOU) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives): each prediction, best score first,
    takes the unmatched true box of its class it overlaps most, if by at least ``iou``."""
    from torchvision.ops import box_iou

    tp = fp = fn = 0
    for pred, true in zip(predictions, targets):
        taken = torch.zeros(len(true["labels"]), dtype=torch.bool)
        overlaps = box_iou(pred["boxes"], true["boxes"].float().cpu()) if len(true["labels"]) \
            else torch.zeros(len(pred["labels"]), 0)
        for i in pred["scores"].argsort(descending=True).tolist():
            fits = (true["labels"].cpu() == pred["labels"][i]) & ~taken & (overlaps[i] >= iou)
            if fits.any():
                j = int(torch.where(fits, overlaps[i], torch.full_like(overlaps[i], -1)).argmax())
                taken[j] = True
                tp += 1
            else:
                fp += 1
        fn += int((~taken).sum())
    return tp, fp, fn


def centroid_counts(predictions: list[Target], targets: list[Target]) -> tuple[int, int, int]:
    """As :func:`match_counts` for centres (FOMO's measure): a predicted centre is right when
    it lies inside an unmatched true box of its class (the nearest centre first)."""
    tp = fp = fn = 0
    for pred, true in zip(predictions, targets):
        boxes, labels = true["boxes"].float().cpu(), true["labels"].cpu()
        taken = torch.zeros(len(labels), dtype=torch.bool)
        centres = (pred["boxes"][:, :2] + pred["boxes"][:, 2:]) / 2
        middle = (boxes[:, :2] + boxes[:, 2:]) / 2
        for i in pred["scores"].argsort(descending=True).tolist():
            c = centres[i]
            fits = (labels == pred["labels"][i]) & ~taken & (boxes[:, 0] <= c[0]) & \
                (c[0] <= boxes[:, 2]) & (boxes[:, 1] <= c[1]) & (c[1] <= boxes[:, 3])
            if fits.any():
                distance = torch.where(fits, (middle - c).norm(dim=1),
                                       torch.full((len(labels),), math.inf))
                taken[int(distance.argmin())] = True
                tp += 1
            else:
                fp += 1
        fn += int((~taken).sum())
    return tp, fp, fn


def f1_figures(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """(precision, recall, F1); a ratio with nothing to count is 0."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def detection_metrics(all_rows: torch.Tensor, thresholded: torch.Tensor,
                      targets: list[Target]) -> dict[str, float]:
    """Every figure of the task from decoder rows: ``all_rows`` decoded at a near-zero
    threshold (for mAP), ``thresholded`` at the decoder's own (precision, recall, F1)."""
    coco = mean_average_precision(detections(all_rows), targets)
    kept = detections(thresholded)
    precision, recall, f1 = f1_figures(*match_counts(kept, targets))
    return {"map50": max(float(coco["map_50"]), 0.0), "map50_95": max(float(coco["map"]), 0.0),
            "precision": precision, "recall": recall, "f1": f1,
            "centroid_f1": f1_figures(*centroid_counts(kept, targets))[2]}


# ---- the task ------------------------------------------------------------------------------

@dataclass
class DetectionReport:
    """How a detector does on one split: the task's figures, AP per class, and every image's
    predicted rows (at the decoder's threshold) beside its true boxes."""

    metrics: dict[str, float]
    per_class: list[dict]            # {"name", "index", "ap50_95"} per class seen in the split
    predictions: list[Target] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    split: str = "test"


class Detection(Task):
    name = "detection"
    title = "object detection"
    losses = (LOSS_NAME,)
    default_loss = LOSS_NAME
    metric = MAP50
    figures = FIGURES
    rank_by = MAP50.name       # the best epoch is the one with the best validation mAP@0.5
    prediction = "boxes"
    pixel_augment = False      # shifting or flipping pixels alone would move objects off their boxes

    def criterion(self, loss_name: str) -> Callable:
        return CenterNetLoss()

    def batch_augmenter(self, bundle: DataBundle, settings: dict[str, Any]
                        ) -> Callable[[torch.Tensor, torch.Tensor], tuple] | None:
        """Box-aware augmentation (the data room's: zoom in/out keeping every object, colour
        jitter, left-right flips when 'flip' is on), when any augmentation setting is on."""
        if not any(settings.get(k) for k in ("flip", "shift", "rotate", "noise")):
            return None
        from backend.data.detection import DetectionAugment, augment_batch

        augment = DetectionAugment(flip=bool(settings.get("flip")))
        return lambda x, y: augment_batch(x, y, augment, bundle.normalization)

    def forward(self, model: nn.Module, x: torch.Tensor) -> DetectionOutput:
        return run_detector(model, x)

    def loss(self, loss_fn: Callable, out: DetectionOutput, y: torch.Tensor,
             loss_name: str) -> torch.Tensor:
        return loss_fn(out, y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Split, loss_fn: Callable, loss_name: str,
                 device: torch.device, batch_size: int = 64) -> dict[str, float]:
        rows, kept, targets, total, n = self._outputs(model, split, loss_fn, device, batch_size)
        figures = detection_metrics(rows, kept, targets) if n else {}
        return {"loss": total / max(n, 1), self.metric.name: 0.0, **figures}

    def _outputs(self, model: nn.Module, split: Split, loss_fn: Callable | None,
                 device: torch.device, batch_size: int):
        was_training = model.training
        model.eval()
        rows, kept, targets, total, n = [], [], [], 0.0, 0
        try:
            for start in range(0, len(split), batch_size):
                x = split.x[start:start + batch_size].to(device)
                y = split.y[start:start + batch_size]
                out = run_detector(model, x)
                if loss_fn is not None:
                    total += float(loss_fn(out, y.to(device))) * len(x)
                rows.append(out.rows(EVAL_THRESHOLD).cpu())
                kept.append(out.boxes.float().cpu())
                targets += unpad(y)
                n += len(x)
        finally:
            model.train(was_training)
        if not rows:
            return torch.zeros(0, 1, 6), torch.zeros(0, 1, 6), [], 0.0, 0
        return torch.cat(rows), torch.cat(kept), targets, total, n

    def check_fit(self, fit: FitContext) -> None:
        self.check_loss(fit, f"does not train boxes: dataset {fit.dataset} has boxes per image; "
                             f"choose the {LOSS_NAME} loss")
        graph = fit.project.graph
        if fit.feeder.type != "DetectionDecode":
            raise TrainingError(
                f"dataset {fit.dataset} has boxes per image but {fit.feeder.label()} feeds the "
                f"Output: a detector ends CenterNetHead -> DetectionDecode -> Output",
                fit.feeder.name)
        heads = [n for n in graph.nodes if n.type == "CenterNetHead"]
        if len(heads) != 1:
            raise TrainingError(f"a detector has one CenterNetHead (between the backbone and "
                                f"the DetectionDecode); this network has {len(heads)}")
        head, decode = heads[0], fit.feeder
        classes = fit.bundle.num_classes or 0
        if classes and head.params["num_classes"] != classes:
            raise TrainingError(
                f"dataset {fit.dataset} has {classes} classes but {head.label()} predicts "
                f"{head.params['num_classes']}: set its num_classes to {classes}", head.name)
        if head.params["mode"] != decode.params["mode"]:
            raise TrainingError(
                f"{head.label()} is in {head.params['mode']} mode but {decode.label()} in "
                f"{decode.params['mode']} mode: set both to the same mode", decode.name)
        self._check_stride(fit, head, decode)

    def _check_stride(self, fit: FitContext, head, decode) -> None:
        """The stride parameters must be what the backbone really does to the image."""
        info = analyze(fit.project.graph).info
        features = info[head.id].inputs["in"].dims
        image = fit.bundle.sample_shape
        if len(features) != 3 or len(image) != 3:
            return
        sy, sx = image[1] / features[1], image[2] / features[2]
        if sy != sx or not float(sy).is_integer():
            raise TrainingError(
                f"{head.label()} sees a {features[1]}x{features[2]} feature map of a "
                f"{image[1]}x{image[2]} image: the backbone must shrink the image by the same "
                f"whole factor down and across (e.g. 8)", head.name)
        stride = int(sy)
        for node in (head, decode):
            if node.params["stride"] != stride:
                raise TrainingError(
                    f"{node.label()} has stride {node.params['stride']} but the backbone "
                    f"shrinks the {image[1]}x{image[2]} image to {features[1]}x{features[2]} "
                    f"(stride {stride}): set stride to {stride} on {head.label()} and "
                    f"{decode.label()}", node.name)

    def describe_data(self, bundle: DataBundle) -> list[tuple[str, str]]:
        boxes = sum(len(t["labels"]) for t in unpad(bundle.train.y))
        return [("Classes", f"{bundle.num_classes}"),
                ("Boxes", f"{boxes} in {len(bundle.train)} training images")]

    def final_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> DetectionReport:
        return detection_report(model, bundle, model_device(model))

    def run_summary(self, model: nn.Module, bundle: DataBundle,
                    best_val_loss: float) -> tuple[dict[str, float], list[str]]:
        return {"val_loss": best_val_loss}, []

    # -- inference --
    @staticmethod
    def boxes(output: torch.Tensor | np.ndarray, class_names: list[str] | None = None
              ) -> list[list[Any]]:
        """One image's (k, 6) output as [x1, y1, x2, y2, score, class] rows, best first, the
        empty rows left out (class is the name when ``class_names`` are given)."""
        rows = torch.as_tensor(np.asarray(output) if not isinstance(output, torch.Tensor)
                               else output).detach().float().cpu().reshape(-1, 6)
        rows = rows[(rows[:, 5] >= 0) & (rows[:, 4] > 0)]
        rows = rows[rows[:, 4].argsort(descending=True)]
        names = list(class_names or [])
        return [[*(round(v, 2) for v in r[:4].tolist()), round(float(r[4]), 4),
                 names[int(r[5])] if int(r[5]) < len(names) else int(r[5])] for r in rows]

    def export_metadata(self) -> dict[str, Any]:
        return {"prediction": self.prediction, "metric": self.metric.name,
                "boxes": {"rows": ["x1", "y1", "x2", "y2", "score", "class"],
                          "units": "input pixels", "empty_row_class": -1}}


def detection_report(model: nn.Module, bundle: DataBundle, device: torch.device | str = "cpu",
                     split: str = "test") -> DetectionReport:
    """The task's figures on ``split`` with the AP of each class and every image's
    predictions (for the evaluation views: per-class table, gallery worst first)."""
    task = Detection()
    rows, kept, targets, _, n = task._outputs(model, getattr(bundle, split), None,
                                              torch.device(device), 64)
    figures = detection_metrics(rows, kept, targets) if n else {}
    names = list(bundle.class_names or [])
    per_class = []
    if n:
        coco = mean_average_precision(detections(rows), targets, class_metrics=True)
        classes = coco["classes"].reshape(-1).tolist()
        values = coco["map_per_class"].reshape(-1).tolist()
        per_class = [{"name": names[c] if c < len(names) else str(c), "index": int(c),
                      "ap50_95": max(float(v), 0.0)} for c, v in zip(classes, values)]
    return DetectionReport(figures, per_class, detections(kept), targets, names, split)
