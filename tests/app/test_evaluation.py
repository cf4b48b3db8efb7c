"""The evaluation panel shows what the reports hold: the confusion counts, one table row per
class, a thumbnail per misclassified image (at most 24), the forecast curves, and text sampled
at the slider's temperature."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from app.panels.evaluation import HINT, EvaluationPanel
from app.panels.report_views import GALLERY_LIMIT, sample_image
from backend.data import DataBundle, Split
from backend.tasks.classification import MACRO_NAME, report_from_predictions
from backend.tasks.regression import ForecastReport

NAMES = ["cat", "dog", "bird"]


def image_bundle(targets: torch.Tensor, channels: int = 1, size: int = 4) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(len(targets), channels * size * size, generator=g)  # flattened, normalised
    split = Split(x, targets)
    norm = {"kind": "image", "mean": [0.5] * channels, "std": [0.25] * channels,
            "size": [size, size], "channels": channels, "flatten": True,
            "value_range": [0.0, 1.0]}
    return DataBundle("pictures", "classification", split, split, split,
                      (channels * size * size,), (), 3, NAMES, norm, "tests")


def predictions(n: int, wrong: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples of 3 classes, the first ``wrong`` of them predicted as the next class."""
    targets = torch.arange(n) % 3
    preds = targets.clone()
    preds[:wrong] = (targets[:wrong] + 1) % 3
    return preds, targets


@pytest.fixture
def panel(qtbot):
    widget = EvaluationPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 380)
    widget.show()
    return widget


def test_starts_with_the_hint_and_clear_returns_to_it(panel) -> None:
    assert panel.stack.currentWidget() is panel.hint_label
    assert panel.hint_label.text() == HINT
    preds, targets = predictions(12, 2)
    panel.show_classification(report_from_predictions(preds, targets, NAMES),
                              image_bundle(targets))
    assert panel.stack.currentWidget() is panel.classification_view
    panel.clear()
    assert panel.stack.currentWidget() is panel.hint_label
    assert panel.classification_view.gallery.count() == 0


def test_confusion_matrix_and_table_show_the_report(panel) -> None:
    preds, targets = predictions(30, 7)
    report = report_from_predictions(preds, targets, NAMES)
    panel.show_classification(report, image_bundle(targets))
    view = panel.classification_view

    m = view.matrix
    assert (m.rowCount(), m.columnCount()) == (3, 3)
    assert [m.verticalHeaderItem(i).text() for i in range(3)] == NAMES
    assert [m.horizontalHeaderItem(i).text() for i in range(3)] == NAMES
    cm = report.confusion.tolist()
    for t in range(3):
        for p in range(3):
            assert m.item(t, p).text() == str(cm[t][p])
            assert m.item(t, p).data(Qt.ItemDataRole.UserRole) == cm[t][p]
    assert sum(map(sum, cm)) == 30 and cm[0][1] == 3  # targets 0,3,6 of the first 7 wrong

    table = view.table
    assert table.rowCount() == len(NAMES) + 1  # one row per class, then the macro average
    assert [table.item(r, 0).text() for r in range(3)] == NAMES
    assert table.item(3, 0).text() == MACRO_NAME
    row = report.per_class[0]
    assert table.item(0, 1).text() == f"{row['precision']:.2f}"
    assert table.item(0, 4).text() == str(row["support"])
    assert f"{report.accuracy * 100:.1f}%" in view.headline.text()


@pytest.mark.parametrize("wrong", [0, 5, 30])
def test_gallery_shows_up_to_24_misclassified_images(panel, wrong) -> None:
    preds, targets = predictions(40, wrong)
    report = report_from_predictions(preds, targets, NAMES)
    panel.show_classification(report, image_bundle(targets))
    gallery = panel.classification_view.gallery

    assert gallery.count() == min(GALLERY_LIMIT, wrong)
    if wrong:
        first = gallery.item(0)
        assert first.text() == "cat → dog"  # sample 0: a cat taken for a dog
        assert not first.icon().isNull()
    assert str(wrong) in panel.classification_view.gallery_title.text()


def test_gallery_is_hidden_for_data_that_are_not_images(panel) -> None:
    preds, targets = predictions(10, 4)
    bundle = image_bundle(targets)
    bundle.normalization = {}  # e.g. a table of numbers
    panel.show_classification(report_from_predictions(preds, targets, NAMES), bundle)
    assert panel.classification_view.gallery.count() == 0
    assert panel.classification_view.gallery.isHidden()


def test_sample_image_undoes_the_normalisation() -> None:
    norm = {"kind": "image", "mean": [0.5], "std": [0.25], "size": [2, 2], "channels": 1}
    pixels = torch.tensor([0.0, 0.25, 0.5, 1.0])
    image = sample_image((pixels - 0.5) / 0.25, norm)
    assert (image.width(), image.height()) == (2, 2)
    values = [image.pixelColor(x, y).red() for y in range(2) for x in range(2)]
    assert values == [0, 64, 128, 255]
    rgb = sample_image(torch.zeros(3 * 4), {**norm, "channels": 3, "mean": [1.0, 0.0, 0.0],
                                            "std": [1.0] * 3})
    assert rgb.pixelColor(0, 0).getRgb()[:3] == (255, 0, 0)
    assert sample_image(torch.zeros(4), {}) is None


def forecast(shift: float = 0.0, n: int = 50) -> ForecastReport:
    steps = np.arange(100, 100 + n)
    actual = np.sin(steps / 5) + 10
    predicted = actual + 0.1 + shift
    baseline = np.roll(actual, 1)
    return ForecastReport("co2", "val", 1, steps, actual, predicted, baseline,
                          float(np.mean((predicted - actual) ** 2)),
                          float(np.mean((baseline - actual) ** 2)))


def test_forecast_curves_hold_the_data(panel) -> None:
    report = forecast()
    panel.show_forecast(report)
    view = panel.forecast_view
    assert panel.stack.currentWidget() is view
    for curve, values in ((view.actual_curve, report.actual),
                          (view.predicted_curve, report.predicted),
                          (view.baseline_curve, report.baseline)):
        x, y = curve.getData()
        np.testing.assert_allclose(x, report.steps)
        np.testing.assert_allclose(y, values)
    assert view.baseline_curve.opts["pen"].style() == Qt.PenStyle.DashLine
    assert f"{report.mse:.4g}" in view.legend.getLabel(view.predicted_curve).text
    assert f"{report.baseline_mse:.4g}" in view.legend.getLabel(view.baseline_curve).text

    # the next epoch: the same curve items get the new data
    items = list(view.plot.getPlotItem().listDataItems())
    newer = forecast(shift=0.5, n=60)
    panel.update_forecast(newer)
    assert list(view.plot.getPlotItem().listDataItems()) == items
    np.testing.assert_allclose(view.predicted_curve.getData()[1], newer.predicted)
    assert f"{newer.mse:.4g}" in view.legend.getLabel(view.predicted_curve).text
    assert f"{newer.mse:.4g}" in view.headline.text()


def test_text_slider_release_and_button_sample_at_the_temperature(panel, qtbot) -> None:
    calls: list[float] = []

    def sample(temperature: float) -> str:
        calls.append(temperature)
        return f"text at {temperature:.1f}"

    view = panel.text_view

    def shows(text: str) -> None:
        qtbot.waitUntil(lambda: not view.busy and view.text.toPlainText() == text, timeout=3000)

    panel.show_text(sample)
    shows("text at 0.8")  # shown with a first sample at the default
    assert calls == [pytest.approx(0.8)]
    assert view.text.isReadOnly()
    assert (view.slider.minimum() / 10, view.slider.maximum() / 10) == (0.1, 2.0)

    view.slider.setSliderDown(True)  # a drag: nothing until the release
    view.slider.setValue(13)
    view.slider.setValue(15)
    assert len(calls) == 1 and view.value_label.text() == "1.5"
    view.slider.setSliderDown(False)  # emits sliderReleased
    shows("text at 1.5")
    assert calls[-1] == pytest.approx(1.5)

    qtbot.mouseClick(view.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(calls) == 3 and not view.busy, timeout=3000)
    assert calls[-1] == pytest.approx(1.5)
    panel.refresh_text()
    qtbot.waitUntil(lambda: len(calls) == 4 and not view.busy, timeout=3000)

    view.slider.setValue(3)  # keyboard or wheel: samples once the value settles
    qtbot.waitUntil(lambda: len(calls) == 5, timeout=2000)
    assert calls[-1] == pytest.approx(0.3)


def test_text_is_sampled_off_the_gui_thread_and_requests_meanwhile_run_once(panel, qtbot) -> None:
    release = threading.Event()
    threads: list[str] = []
    calls: list[float] = []

    def slow(temperature: float) -> str:
        threads.append(threading.current_thread().name)
        calls.append(temperature)
        release.wait(5)
        return f"text at {temperature:.1f}"

    view = panel.text_view
    panel.show_text(slow)  # returns at once: the window stays responsive while it samples
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=3000)
    assert view.busy and not view.generate_button.isEnabled()
    assert threading.main_thread().name not in threads
    view.slider.setValue(12)
    view.refresh()
    view.slider.setValue(17)
    view.refresh()  # two requests while busy: one more sample, at the latest temperature
    release.set()
    qtbot.waitUntil(lambda: view.text.toPlainText() == "text at 1.7" and not view.busy,
                    timeout=3000)
    assert calls == [pytest.approx(0.8), pytest.approx(1.7)]
    assert view.generate_button.isEnabled()


def held_sampler(text: str) -> tuple:
    """A sampler that answers ``text`` only once ``release`` is set: a slow model."""
    release = threading.Event()

    def sample(temperature: float) -> str:
        release.wait(5)
        return text

    return sample, release


def test_a_sample_from_a_replaced_sampler_is_not_shown(panel, qtbot) -> None:
    old, release = held_sampler("stale text")
    view = panel.text_view
    panel.show_text(old)
    qtbot.waitUntil(lambda: view.busy, timeout=1000)
    panel.clear()  # a new run started: the old model's text must not appear
    release.set()
    qtbot.waitUntil(lambda: not view.busy, timeout=3000)
    assert view.text.toPlainText() == ""
    assert not view.generate_button.isEnabled()  # no sampler now


def test_a_failing_sampler_shows_the_error(panel, qtbot) -> None:
    def broken(temperature: float) -> str:
        raise RuntimeError("size mismatch")

    panel.show_text(broken)
    qtbot.waitUntil(lambda: "size mismatch" in panel.text_view.text.toPlainText(), timeout=3000)


def test_a_new_sampler_asked_for_while_the_old_one_runs_gets_its_text(panel, qtbot) -> None:
    old, release = held_sampler("last epoch's text")
    view = panel.text_view
    panel.show_text(old)  # epoch 1's samples, still being generated...
    qtbot.waitUntil(lambda: view.busy, timeout=1000)
    panel.show_text(lambda t: "this epoch's text")  # ...when epoch 2's arrive
    release.set()
    qtbot.waitUntil(lambda: view.text.toPlainText() == "this epoch's text" and not view.busy,
                    timeout=3000)


def test_closing_the_view_while_it_samples_is_harmless(qtbot) -> None:
    from app.panels.report_views import TextView

    slow, release = held_sampler("late text")
    view = TextView()
    view.set_sample_fn(slow)
    view.refresh()
    qtbot.waitUntil(lambda: view.busy, timeout=1000)
    sampler = next(t for t in threading.enumerate() if t.name == "layerforge-text")
    view.deleteLater()
    qtbot.wait(10)  # the widget (and the result's relay, owned by it) is gone
    release.set()
    sampler.join(5)
    assert not sampler.is_alive()
    qtbot.wait(50)  # nothing left to deliver to: no error, no crash
