"""The detector's Evaluation page: mAP headline, AP per class, and the test images with their
true and predicted boxes, the image with the most errors first."""
from __future__ import annotations

from types import SimpleNamespace

import torch

from app.panels.detection_view import DetectionView, image_errors
from app.panels.evaluation import EvaluationPanel
from backend.tasks.detection import DetectionReport

NORMALIZATION = {"kind": "image", "mean": [0.5] * 3, "std": [0.25] * 3, "size": [32, 32],
                 "channels": 3, "value_range": [0.0, 1.0]}


def boxes(*rows, scores=None):
    t = torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)
    out = {"boxes": t[:, :4], "labels": t[:, 4].long()}
    if scores is not None:
        out["scores"] = torch.tensor(scores, dtype=torch.float32)
    return out


def report() -> DetectionReport:
    targets = [boxes([2, 2, 12, 12, 0]), boxes([4, 4, 20, 20, 1], [20, 20, 30, 30, 0]),
               boxes([1, 1, 8, 8, 1])]
    predictions = [boxes([2, 2, 12, 12, 0], scores=[0.9]),           # right
                   boxes([4, 4, 20, 20, 0], scores=[0.8]),           # wrong class, one missed
                   boxes([1, 1, 8, 8, 1], [20, 2, 30, 12, 0], scores=[0.7, 0.4])]  # one extra
    return DetectionReport({"map50": 0.5, "map50_95": 0.31, "precision": 0.5, "recall": 0.5,
                            "f1": 0.5, "centroid_f1": 0.6},
                           [{"name": "cat", "index": 0, "ap50_95": 0.25},
                            {"name": "dog", "index": 1, "ap50_95": 0.375}],
                           predictions, targets, ["cat", "dog"], "test")


def test_errors_count_missed_and_false_boxes_of_the_same_class() -> None:
    r = report()
    assert [image_errors(p, t) for p, t in zip(r.predictions, r.targets)] == [0, 3, 1]


def test_the_page_shows_map_ap_per_class_and_the_worst_image_first(qtbot) -> None:
    panel = EvaluationPanel()
    qtbot.addWidget(panel)
    view = panel.page_for("detection")
    assert isinstance(view, DetectionView)
    bundle = SimpleNamespace(test=SimpleNamespace(x=torch.zeros(3, 3, 32, 32)),
                             normalization=NORMALIZATION)
    panel.show_run_report("detection", report(), SimpleNamespace(bundle=bundle), final=True)
    assert panel.stack.currentWidget() is view
    assert "0.500" in view.headline.text() and "0.310" in view.headline.text()
    assert [view.table.item(r, 0).text() for r in range(2)] == ["cat", "dog"]
    assert view.table.item(1, 1).text() == "0.375"
    captions = [view.gallery.item(i).text() for i in range(view.gallery.count())]
    assert captions == ["#1: 3 errors", "#2: 1 error", "#0: 0 errors"]
    assert "2 of 3" in view.gallery_title.text()
    view.clear()
    assert view.gallery.count() == 0 and view.table.rowCount() == 0
