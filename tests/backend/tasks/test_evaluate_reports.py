"""The evaluation reports the GUI draws: confusion matrix and per-class numbers on a hand-made
example, the forecast report against the raw CSV it came from, the classification report
against the trainer's own test accuracy, and reproducible text samples."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from backend.data import DataBundle, Split, load_dataset
from backend.tasks.base import predict
from backend.tasks.classification import (
    MACRO_NAME, ClassificationReport, classification_report, confusion_matrix, misclassified,
    per_class_report, report_from_predictions,
)
from backend.tasks.language_model import text_samples
from backend.tasks.regression import ForecastReport, forecast_report
from backend.training.train import Finished, TrainingRun
from graph.templates import build_template


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- confusion matrix and per-class numbers ---------------------------------------------------

# true:      0  0  0  0  1  1  2  2  2     (class 3 exists but never occurs)
# predicted: 0  0  0  1  1  2  2  0  0
TARGETS = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
PREDS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 0, 0])


def test_confusion_matrix_counts_true_by_predicted() -> None:
    cm = confusion_matrix(PREDS, TARGETS, 4)

    assert cm.dtype == torch.int64
    assert cm.tolist() == [[3, 1, 0, 0],
                           [0, 1, 1, 0],
                           [2, 0, 1, 0],
                           [0, 0, 0, 0]]
    # a label per time step counts every step
    assert confusion_matrix(PREDS.view(3, 3), TARGETS.view(3, 3), 4).equal(cm)
    with pytest.raises(ValueError):
        confusion_matrix(PREDS, TARGETS, 2)  # class 2 does not fit


def test_per_class_report_exact_values() -> None:
    rows = per_class_report(confusion_matrix(PREDS, TARGETS, 4), ["zero", "one", "two", "three"])

    assert [r["name"] for r in rows] == ["zero", "one", "two", "three", MACRO_NAME]
    expected = {  # precision, recall, f1, support
        "zero": (3 / 5, 3 / 4, 2 / 3, 4),
        "one": (1 / 2, 1 / 2, 1 / 2, 2),
        "two": (1 / 2, 1 / 3, 2 / 5, 3),
        "three": (0.0, 0.0, 0.0, 0),  # never true, never predicted: 0, not NaN
        # macro: over the classes that occur (as scikit-learn does by default)
        MACRO_NAME: (8 / 15, 19 / 36, 47 / 90, 9),
    }
    for row in rows:
        p, r, f1, support = expected[row["name"]]
        assert row["precision"] == pytest.approx(p, abs=1e-12)
        assert row["recall"] == pytest.approx(r, abs=1e-12)
        assert row["f1"] == pytest.approx(f1, abs=1e-12)
        assert row["support"] == support
    assert rows[-1]["index"] is None and [r["index"] for r in rows[:-1]] == [0, 1, 2, 3]


def test_per_class_report_agrees_with_scikit_learn() -> None:
    from sklearn.metrics import precision_recall_fscore_support

    g = torch.Generator().manual_seed(3)
    targets = torch.randint(0, 5, (300,), generator=g)
    preds = torch.where(torch.rand(300, generator=g) < 0.6, targets,
                        torch.randint(0, 6, (300,), generator=g))  # class 5: only predicted
    rows = per_class_report(confusion_matrix(preds, targets, 6))
    p, r, f, s = precision_recall_fscore_support(targets, preds, labels=list(range(6)),
                                                 zero_division=0)
    for i in range(6):
        assert (rows[i]["precision"], rows[i]["recall"], rows[i]["f1"], rows[i]["support"]) == \
            pytest.approx((p[i], r[i], f[i], s[i]))
    macro = precision_recall_fscore_support(targets, preds, average="macro", zero_division=0)
    assert (rows[-1]["precision"], rows[-1]["recall"], rows[-1]["f1"]) == pytest.approx(
        macro[:3])
    assert rows[5]["name"] == "class 5"  # no names given


def test_empty_matrix_gives_zeros_not_nan() -> None:
    rows = per_class_report(torch.zeros(3, 3, dtype=torch.int64), ["a", "b", "c"])
    assert all(not math.isnan(v) for row in rows for v in
               (row["precision"], row["recall"], row["f1"]))
    assert rows[-1]["f1"] == 0.0


def test_misclassified_indices_and_limit() -> None:
    assert misclassified(PREDS, TARGETS).tolist() == [3, 5, 7, 8]
    assert misclassified(PREDS, TARGETS, limit=2).tolist() == [3, 5]
    # per-step labels: a sample is wrong when any step is
    assert misclassified(torch.tensor([[1, 1], [1, 2]]), torch.tensor([[1, 1], [1, 1]])
                         ).tolist() == [1]


def test_report_from_predictions() -> None:
    report = report_from_predictions(PREDS, TARGETS, ["zero", "one", "two"])

    assert isinstance(report, ClassificationReport)
    assert report.accuracy == pytest.approx(5 / 9)
    assert report.correct == 5 and report.total == 9
    assert report.misclassified_indices.tolist() == [3, 5, 7, 8]
    assert report.predicted.equal(PREDS)
    assert len(report.classes) == 3 and report.macro["name"] == MACRO_NAME


# ---- predict and the classification report on a trained model ---------------------------------

@pytest.fixture(scope="module")
def digits_run():
    project = build_template("hello-mlp")
    run = TrainingRun(project, epochs=1, device="cpu")
    events = list(run.events())
    assert isinstance(events[-1], Finished), events[-1]
    return run, events[-1]


def test_classification_report_matches_the_trainers_test_accuracy(digits_run) -> None:
    run, finished = digits_run
    report = classification_report(run.model, run.bundle)

    assert report.accuracy == pytest.approx(finished.test["accuracy"], abs=1e-12)
    assert report.total == len(run.bundle.test)
    assert report.confusion.shape == (10, 10)
    assert report.confusion.sum(dim=1).tolist() == torch.bincount(
        run.bundle.test.y, minlength=10).tolist()
    assert len(report.per_class) == 11 and report.class_names == [str(d) for d in range(10)]
    wrong = report.misclassified_indices
    assert len(wrong) == report.total - report.correct
    assert (report.predicted[wrong] != run.bundle.test.y[wrong]).all()


def test_predict_restores_the_mode_and_batches(digits_run) -> None:
    run, _ = digits_run
    model, split = run.model, run.bundle.test
    model.train()
    out, y = predict(model, split, batch_size=50)  # several batches, one ragged
    assert model.training
    assert out.shape == (len(split), 10) and y is split.y
    assert not out.requires_grad
    model.eval()
    again, _ = predict(model, split)
    assert not model.training
    assert torch.allclose(out, again, atol=1e-5)


# ---- forecasting: back to the CSV's own units ------------------------------------------------

WINDOW, HORIZON, ROWS = 6, 2, 140


def write_csv(path: Path) -> np.ndarray:
    """A trending seasonal series plus a second feature; returns the raw target column."""
    i = np.arange(ROWS)
    value = 100 + 0.5 * i + 5 * np.sin(i / 3) + np.random.default_rng(0).normal(0, 0.3, ROWS)
    other = np.cos(i / 5) * 10
    lines = ["date,value,other"] + [f"2024-01-{k % 28 + 1:02d},{v:.4f},{o:.4f}"
                                    for k, (v, o) in enumerate(zip(value, other))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return np.round(value, 4)


def window_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(WINDOW * 2, 1))


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_forecast_report_undoes_the_normalisation(tmp_path, relative, split) -> None:
    raw = write_csv(tmp_path / "series.csv")
    spec = {"name": "csv_series", "options": {"path": str(tmp_path / "series.csv"),
                                              "target": "value", "horizon": HORIZON,
                                              "relative": relative}}
    bundle = load_dataset(spec, "sequence", (WINDOW, 2))
    model = window_model()
    report = forecast_report(model, bundle, split, dataset=spec)

    assert isinstance(report, ForecastReport)
    assert report.levels == "exact" and report.column == "value" and report.horizon == HORIZON
    n = len(getattr(bundle, split))
    assert len(report.actual) == len(report.predicted) == len(report.baseline) == n
    # every value is the CSV's own number at the row it claims to be
    np.testing.assert_allclose(report.actual, raw[report.steps], atol=1e-3)
    np.testing.assert_allclose(report.baseline, raw[report.steps - HORIZON], atol=1e-3)
    # the forecast is the model's output in the same units
    std, mean = bundle.normalization["std"][0], bundle.normalization["mean"][0]
    with torch.no_grad():
        p = model(getattr(bundle, split).x)[:, 0].double().numpy()
    expected = report.baseline + p * std if relative else p * std + mean
    np.testing.assert_allclose(report.predicted, expected, atol=1e-3)
    assert report.mse == pytest.approx(np.mean((report.predicted - report.actual) ** 2))
    assert report.baseline_mse == pytest.approx(np.mean((report.baseline - report.actual) ** 2))
    # the baseline MSE is the normalised last-value baseline in the CSV's units
    from backend.tasks.regression import last_value_baseline
    assert report.baseline_mse == pytest.approx(
        last_value_baseline(bundle, getattr(bundle, split)) * std ** 2, rel=1e-4)

    # without the dataset spec a relative split's level is inferred; the errors stay exact
    guess = forecast_report(model, bundle, split)
    assert guess.levels == ("estimated" if relative and split != "train" else "exact")
    np.testing.assert_allclose(guess.predicted - guess.actual, report.predicted - report.actual,
                               atol=1e-3)
    assert guess.mse == pytest.approx(report.mse, rel=1e-4)
    step = np.abs(np.diff(raw)).max()
    assert np.abs(guess.actual - report.actual).max() <= step + 1e-3


def test_forecast_report_without_series_normalisation() -> None:
    """A hand-built bundle with no mean/std: values are used as they are."""
    x = torch.arange(40, dtype=torch.float32).view(10, 4, 1)
    y = x[:, -1, :] + 1
    bundle = DataBundle("numbers", "regression", Split(x, y), Split(x, y), Split(x, y), (4, 1),
                        (1,), None, None, {"target_index": 0}, "tests")

    class Plus(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t[:, -1, :] + 2

    report = forecast_report(Plus(), bundle, "val")
    np.testing.assert_allclose(report.actual, y[:, 0].numpy())
    np.testing.assert_allclose(report.predicted, y[:, 0].numpy() + 1)
    assert report.mse == pytest.approx(1.0) and report.baseline_mse == pytest.approx(1.0)


# ---- text --------------------------------------------------------------------------------------

class TinyCharModel(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))  # a prediction at every step, like char-gru


def text_bundle(vocab: str = "abcdefgh \n") -> DataBundle:
    ids = torch.randint(0, len(vocab), (20, 5), generator=torch.Generator().manual_seed(0))
    split = Split(ids, ids)
    return DataBundle("text", "language_model", split, split, split, (5,), (5,), len(vocab),
                      list(vocab), {"kind": "text", "vocab": vocab}, "tests")


def test_text_samples_are_reproducible_with_a_seed() -> None:
    torch.manual_seed(0)
    model, bundle = TinyCharModel(10), text_bundle()

    first = text_samples(model, bundle, 0.8, n=3, length=60, seed=0)
    assert first == text_samples(model, bundle, 0.8, n=3, length=60, seed=0)
    assert len(first) == 3 and all(len(s) == 60 for s in first)
    assert all(set(s) <= set("abcdefgh \n") for s in first)
    assert len(set(first)) == 3  # each sample has its own seed
    assert text_samples(model, bundle, 0.8, n=3, length=60, seed=1)[0] == first[1]
    assert text_samples(model, bundle, 1.5, n=3, length=60, seed=0) != first
    greedy = text_samples(model, bundle, 0.0, n=2, length=30)
    assert greedy[0] == greedy[1]  # temperature 0: always the likeliest character
