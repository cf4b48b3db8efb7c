"""The detection task: COCO mAP from the library on hand-checked cases, the decoder on a
hand-made heatmap, training on a synthetic set (coloured squares on noise), and exports that
carry the decoder."""
from __future__ import annotations

import math

import pytest
import torch

from backend.data import DataBundle, Split
from backend.data.detection import pad_targets
from backend.errors import TrainingError
from backend.export.exporter import export_model
from backend.tasks import TASKS, get_task
from backend.tasks.detection import (Detection, center_targets, detection_metrics,
                                     mean_average_precision, unpad)
from backend.training.train import EpochEnd, Finished, TrainingRun, check_fit
from graph.model import Edge
from graph.templates import Builder
from graph.validate import analyze

# ---- mAP: torchmetrics (faster-coco-eval) against faster-coco-eval itself and by hand ------

A, B, C = [10.0, 10.0, 30.0, 30.0], [40.0, 40.0, 60.0, 60.0], [5.0, 40.0, 25.0, 60.0]
TRUE = [{"boxes": torch.tensor([A, B]), "labels": torch.tensor([0, 0])},
        {"boxes": torch.tensor([C]), "labels": torch.tensor([1])}]


def preds(*images):
    return [{"boxes": torch.tensor([b for b, _, _ in rows]).reshape(-1, 4),
             "scores": torch.tensor([s for _, s, _ in rows]),
             "labels": torch.tensor([c for _, _, c in rows], dtype=torch.long)}
            for rows in images]


def coco_eval_directly(predictions, targets) -> tuple[float, float]:
    """(mAP@[.5:.95], mAP@0.5) by faster-coco-eval's own COCO API, without torchmetrics."""
    from faster_coco_eval import COCO, COCOeval_faster

    images, annotations, results = [], [], []
    for i, (p, t) in enumerate(zip(predictions, targets)):
        images.append({"id": i, "width": 100, "height": 100})
        for box, label in zip(t["boxes"].tolist(), t["labels"].tolist()):
            x1, y1, x2, y2 = box
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": label,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": 0})
        for box, score, label in zip(p["boxes"].tolist(), p["scores"].tolist(),
                                     p["labels"].tolist()):
            x1, y1, x2, y2 = box
            results.append({"image_id": i, "category_id": label, "score": score,
                            "bbox": [x1, y1, x2 - x1, y2 - y1]})
    truth = COCO()
    truth.dataset = {"images": images, "annotations": annotations,
                     "categories": [{"id": c} for c in (0, 1)]}
    truth.createIndex()
    evaluation = COCOeval_faster(truth, truth.loadRes(results), "bbox", print_function=lambda *a: None)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return float(evaluation.stats[0]), float(evaluation.stats[1])


def test_perfect_predictions_score_one():
    coco = mean_average_precision(preds([(A, 0.9, 0), (B, 0.8, 0)], [(C, 0.7, 1)]), TRUE)
    assert float(coco["map_50"]) == pytest.approx(1.0) and float(coco["map"]) == pytest.approx(1.0)


def test_one_of_two_boxes_missed_is_half_the_class_ap():
    # class 0 finds A, misses B: precision 1 up to recall 0.5, so COCO's 101-point AP is
    # 51/101; class 1 is perfect: mAP = (51/101 + 1) / 2
    predictions = preds([(A, 0.9, 0)], [(C, 0.7, 1)])
    coco = mean_average_precision(predictions, TRUE)
    assert float(coco["map_50"]) == pytest.approx((51 / 101 + 1) / 2, abs=1e-6)
    assert float(coco["map"]) == pytest.approx((51 / 101 + 1) / 2, abs=1e-6)
    assert coco_eval_directly(predictions, TRUE) == pytest.approx(
        (float(coco["map"]), float(coco["map_50"])), abs=1e-6)


def test_a_shifted_box_counts_at_iou_half_but_not_at_three_quarters():
    shifted = [14.0, 10.0, 34.0, 30.0]  # IoU with A: 16*20 / (2*400 - 320) = 2/3
    predictions = preds([(shifted, 0.9, 0), (B, 0.8, 0)], [(C, 0.7, 1), (A, 0.2, 1)])
    coco = mean_average_precision(predictions, TRUE)
    assert float(coco["map_50"]) == pytest.approx(1.0)
    direct = coco_eval_directly(predictions, TRUE)
    assert (float(coco["map"]), float(coco["map_50"])) == pytest.approx(direct, abs=1e-6)
    assert float(coco["map"]) < 1.0


def test_precision_recall_and_centroid_f1_at_the_threshold():
    rows = torch.zeros(2, 3, 6)
    rows[..., 5] = -1
    rows[0, 0] = torch.tensor([*A, 0.9, 0])
    rows[0, 1] = torch.tensor([0.0, 0.0, 4.0, 4.0, 0.8, 0])   # nothing there: a false positive
    rows[1, 0] = torch.tensor([*C, 0.7, 1])
    figures = detection_metrics(rows, rows, TRUE)
    assert figures["precision"] == pytest.approx(2 / 3) and figures["recall"] == pytest.approx(2 / 3)
    assert figures["f1"] == pytest.approx(2 / 3) and figures["centroid_f1"] == pytest.approx(2 / 3)


# ---- the decoder on a hand-made heatmap --------------------------------------------------------

def decoder(**params):
    from backend.compile.ops.detection import DetectionDecode

    args = {"k": 4, "threshold": 0.3, "nms": False, "iou": 0.5, "stride": 8, "centroids": False}
    args.update(params)
    return DetectionDecode(**args).eval()


def hand_made_maps():
    heat = torch.full((1, 2, 6, 6), -10.0)
    heat[0, 1, 2, 3] = 3.0   # class 1 at cell x=3, y=2: score sigmoid(3) = 0.9526
    heat[0, 1, 2, 4] = 2.5   # its neighbour is no peak (the 3x3 max-pool keeps one)
    heat[0, 0, 5, 1] = 1.0   # class 0 at x=1, y=5: score 0.7311
    heat[0, 0, 0, 0] = -2.0  # a peak under the threshold: an empty row
    size = torch.zeros(1, 2, 6, 6)
    size[0, :, 2, 3] = torch.tensor([16.0, 8.0])
    size[0, :, 5, 1] = torch.tensor([10.0, 30.0])
    offset = torch.full((1, 2, 6, 6), 0.5)
    offset[0, :, 2, 3] = torch.tensor([0.25, 0.75])
    return heat, size, offset


def test_decode_finds_the_peaks_and_writes_boxes_in_pixels():
    rows = decoder()(*hand_made_maps())[0]
    # centre of class 1: ((3 + 0.25) * 8, (2 + 0.75) * 8) = (26, 22); size 16 x 8
    expected = torch.tensor([[18.0, 18.0, 34.0, 26.0, torch.sigmoid(torch.tensor(3.0)), 1.0],
                             # class 0 at (12, 44), 10 x 30, clipped at the image's bottom (48)
                             [7.0, 29.0, 17.0, 48.0, torch.sigmoid(torch.tensor(1.0)), 0.0],
                             [0.0, 0.0, 0.0, 0.0, 0.0, -1.0], [0.0, 0.0, 0.0, 0.0, 0.0, -1.0]])
    torch.testing.assert_close(rows, expected)
    assert Detection.boxes(rows, ["zero", "one"]) == [
        [18.0, 18.0, 34.0, 26.0, 0.9526, "one"], [7.0, 29.0, 17.0, 48.0, 0.7311, "zero"]]


def test_decode_nms_drops_the_weaker_overlapping_box_of_the_same_class():
    from torchvision.ops import batched_nms

    heat, size = torch.full((1, 2, 8, 8), -10.0), torch.full((1, 2, 8, 8), 48.0)
    offset = torch.full((1, 2, 8, 8), 0.5)
    heat[0, 1, 2, 2] = 3.0   # box [0, 0, 44, 44] (clipped)
    heat[0, 1, 2, 4] = 2.8   # box [12, 0, 60, 44]: IoU 0.53 with the first, same class
    heat[0, 0, 2, 3] = 2.5   # box [4, 0, 52, 44]: overlaps both, but another class
    heat[0, 1, 6, 6] = 2.0
    size[0, :, 6, 6] = 8.0   # box [48, 48, 56, 56]: overlaps nothing
    plain = decoder(k=5)(heat, size, offset)[0]
    kept = decoder(k=5, nms=True, iou=0.5)(heat, size, offset)[0]
    assert plain[:, 4].gt(0).sum() == 4 and kept[:, 4].gt(0).sum() == 3
    torch.testing.assert_close(kept[:3, 4], torch.sigmoid(torch.tensor([3.0, 2.5, 2.0])))
    assert kept[:3, 5].tolist() == [1.0, 0.0, 1.0] and (kept[3:, 5] == -1).all()
    # the same survivors as torchvision's batched_nms on the plain rows
    valid = plain[plain[:, 4] > 0]
    survivors = batched_nms(valid[:, :4], valid[:, 4], valid[:, 5].long(), 0.5)
    torch.testing.assert_close(kept[:3], valid[survivors])


def test_centroid_mode_gives_cell_boxes_around_the_peaks():
    heat, _, _ = hand_made_maps()
    rows = decoder(centroids=True)(heat)[0]
    torch.testing.assert_close(rows[0, :4], torch.tensor([24.0, 16.0, 32.0, 24.0]))


def test_heatmap_targets_peak_at_each_centre():
    t = center_targets(TRUE, 2, (8, 8), (64, 64), torch.device("cpu"))
    assert t.heatmap.eq(1).sum() == 3
    assert t.heatmap[0, 0, 2, 2] == 1 and t.heatmap[1, 1, 6, 1] == 1
    torch.testing.assert_close(t.offset[0], torch.tensor([0.5, 0.5]))


# ---- training on a synthetic set ------------------------------------------------------------

COLOURS = torch.tensor([[1.0, 0.1, 0.1], [0.1, 1.0, 0.1], [0.1, 0.1, 1.0]])


def squares(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise with 1-2 coloured squares per image (the colour is the class)."""
    g = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for _ in range(n):
        image = torch.rand(3, size, size, generator=g) * 0.4
        boxes, labels = [], []
        for _ in range(int(torch.randint(1, 3, (1,), generator=g))):
            side = int(torch.randint(size // 6, size // 3, (1,), generator=g))
            x, y = (int(v) for v in torch.randint(0, size - side, (2,), generator=g))
            label = int(torch.randint(0, 3, (1,), generator=g))
            image[:, y:y + side, x:x + side] = COLOURS[label].view(3, 1, 1)
            boxes.append([x, y, x + side, y + side])
            labels.append(label)
        images.append(image)
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32),
                        "labels": torch.tensor(labels)})
    return (torch.stack(images) - 0.3) / 0.3, pad_targets(targets, 2)


def squares_bundle(size: int = 32, counts=(96, 32, 32)) -> DataBundle:
    train, val, test = (Split(*squares(n, size, seed)) for seed, n in enumerate(counts))
    norm = {"kind": "image", "mean": [0.3] * 3, "std": [0.3] * 3, "size": [size, size],
            "channels": 3, "flatten": False, "value_range": [0.0, 1.0], "color": "rgb"}
    return DataBundle("squares", "detection", train, val, test, (3, size, size), (2, 5), 3,
                      ["red", "green", "blue"], norm, "synthetic")


def detector(size: int = 32, stride: int = 4, classes: int = 3, **decode):
    b = Builder()
    y = b.add("Input", "image", kind="image", shape=(3, size, size))
    for i in range(int(math.log2(stride))):
        y = b.chain(y, ("Conv2d", f"conv{i}", {"out_channels": 16, "kernel_size": (3, 3),
                                                "stride": (2, 2), "padding": (1, 1)}),
                    ("ReLU", f"relu{i}"))
    head = b.add("CenterNetHead", "head", y, num_classes=classes, hidden=16, stride=stride)
    dec = b.graph.add_node("DetectionDecode", name="decode",
                           params={"k": 10, "stride": stride, **decode})
    for port in ("heatmap", "size", "offset"):
        b.graph.connect(Edge(head.id, port, dec.id, port))
    b.add("Output", "boxes", dec)
    return b.project("squares detector", "", {"name": "squares"}, loss="centernet", epochs=4,
                     learning_rate=3e-3, batch_size=16, optimizer="adamw")


def test_a_few_epochs_lower_the_loss_and_report_every_figure():
    events = list(TrainingRun(detector(), bundle=squares_bundle(counts=(64, 16, 16)),
                              epochs=3).events())
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert epochs[-1].train_loss < epochs[0].train_loss * 0.85, [e.train_loss for e in epochs]
    assert epochs[-1].val_loss < epochs[0].val_loss
    assert epochs[-1].metric == "map50"
    (done,) = [e for e in events if isinstance(e, Finished)]
    assert set(done.test) == {"loss", "map50", "map50_95", "precision", "recall", "f1",
                              "centroid_f1"}
    assert 0.0 <= done.test["map50_95"] <= done.test["map50"] <= 1.0


def test_training_batches_are_augmented_with_their_boxes():
    bundle = squares_bundle(counts=(8, 2, 2))
    task = get_task("detection")
    assert task.batch_augmenter(bundle, {"flip": False, "shift": 0}) is None
    augment = task.batch_augmenter(bundle, {"flip": True, "shift": 4})
    torch.manual_seed(0)
    x, y = augment(bundle.train.x, bundle.train.y)
    assert x.shape == bundle.train.x.shape and y.shape == bundle.train.y.shape
    for before, after in zip(unpad(bundle.train.y), unpad(y)):
        assert after["labels"].tolist() == before["labels"].tolist()  # no object is lost
        boxes = after["boxes"]
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 32).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()


def test_the_best_epoch_is_the_one_with_the_best_validation_map():
    task = get_task("detection")
    assert task.rank_by == "map50"
    assert task.rank_key({"loss": 1.0, "map50": 0.9}) < task.rank_key({"loss": 0.5, "map50": 0.8})


def test_the_fit_check_names_the_fix():
    bundle = squares_bundle(counts=(4, 2, 2))
    project = detector(classes=5)
    with pytest.raises(TrainingError, match="set its num_classes to 3"):
        check_fit(project, analyze(project.graph), bundle, "centernet")
    project = detector(stride=4)
    project.graph.find("head").params["stride"] = 8
    with pytest.raises(TrainingError, match="stride 4.*set stride to 4"):
        check_fit(project, analyze(project.graph), bundle, "centernet")
    with pytest.raises(TrainingError, match="choose the centernet loss"):
        check_fit(project, analyze(project.graph), bundle, "cross_entropy")


# ---- exports carry the decoder ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exports_reproduce_the_boxes(fmt, tmp_path):
    project = detector(threshold=0.0, nms=True)  # every peak a row, and the NMS loop exported
    bundle = squares_bundle(counts=(8, 8, 8))
    from backend.compile.compiler import compile_graph

    torch.manual_seed(0)
    model = compile_graph(project.graph)
    with torch.no_grad():  # peaks of several sizes: a head that is not at its start values
        model.head.heatmap[-1].bias.normal_(0, 2)
    report = export_model((project, model.state_dict()), fmt, tmp_path / "net", bundle=bundle)
    assert report.max_abs_diff <= 1e-4, report.lines()
    model.eval()
    with torch.no_grad():
        want = model(bundle.test.x)
    assert (want[..., 4] > 0).sum() > 20  # the comparison saw real boxes
    if fmt == "torchscript":
        got = torch.jit.load(report.files[0])(bundle.test.x)
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(report.files[0], providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name:
                                                  bundle.test.x.numpy()})[0])
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_the_task_is_declared_with_its_prediction_kind():
    task = TASKS["detection"]
    assert task.export_metadata()["prediction"] == "boxes"
    assert task.losses == ("centernet",) and task.metric.name == "map50"
    assert [row["labels"].tolist() for row in unpad(pad_targets(TRUE, 3))] == [[0, 0], [1]]


def test_the_cli_trains_a_template_by_its_name():
    from backend.cli import _open

    project = _open("digits-detector")  # `layerforge train digits-detector`
    assert project.dataset["name"] == "digits-detection"
    assert project.training["loss"] == "centernet"
