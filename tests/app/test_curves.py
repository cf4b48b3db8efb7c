"""The live training-curves widget: data reaches the curves, smoothing, exports, overlays."""
import csv
import io
import math
import time

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QFileDialog, QMessageBox, QScrollArea

from app.panels import curves as curves_module
from app.panels.curves import CurveRun, TrainingCurves, ema, format_rate


@pytest.fixture
def widget(qtbot):
    w = TrainingCurves()
    qtbot.addWidget(w)
    w.resize(1000, 640)
    w.show()
    qtbot.waitExposed(w)
    return w


def length(curve) -> int:
    """Points handed to the curve (getData() would give the downsampled, clipped ones)."""
    x, _ = curve.getOriginalDataset()
    return 0 if x is None else len(x)


def values(curve) -> np.ndarray:
    return curve.getOriginalDataset()[1]


def legend_labels(plot) -> list[str]:
    return [label.text for _, label in plot.legend.items]


def reference_ema(values, factor):
    """TensorBoard's smoothing, written out plainly."""
    last, out = 0.0, []
    for i, v in enumerate(values):
        last = last * factor + (1 - factor) * v
        out.append(last / (1 - factor ** (i + 1)))
    return np.array(out)


def noisy_loss(n, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1)
    return steps, 0.1 + 2 * np.exp(-steps / (n / 5)) + rng.normal(0, 0.2, n)


def test_points_reach_the_curves(widget, qtbot):
    steps, losses = noisy_loss(120)
    for i in range(0, 120, 7):  # uneven chunks, as the throttled worker delivers them
        widget.add_batches(steps[i:i + 7], losses[i:i + 7], [1e-3] * len(steps[i:i + 7]))
    widget.set_metric_name("accuracy")
    for epoch in range(3):
        widget.add_epoch(epoch, 1.0 / (epoch + 1), 1.1 / (epoch + 1), 0.5 + 0.1 * epoch,
                         0.45 + 0.1 * epoch, "accuracy")
    assert widget.point_count() == 120
    # the coalesced redraw happens on the event loop, without anyone calling flush()
    qtbot.waitUntil(lambda: length(widget.raw_curve) == 120, timeout=2000)
    for curve in (widget.smooth_curve, widget.lr_curve):
        assert length(curve) == 120
    np.testing.assert_array_equal(values(widget.raw_curve), losses)
    qtbot.waitUntil(lambda: length(widget.val_metric_curve) == 3, timeout=2000)
    x, _ = widget.train_loss_curve.getOriginalDataset()
    np.testing.assert_array_equal(x, [1, 2, 3])  # EpochEnd's 0-based epoch drawn 1-based
    np.testing.assert_allclose(values(widget.train_metric_curve), [50, 60, 70])  # in %
    assert length(widget.val_loss_curve) == 3
    assert widget.metric_plot.titleLabel.text == "Accuracy (%)"
    assert widget.metric_plot.legend.opts["offset"][1] < 0  # legend at the bottom, off the climb


def test_many_points_coalesce_redraws_and_stay_downsampled(widget, qapp):
    steps, losses = noisy_loss(150_000, seed=1)
    lrs = np.full(len(steps), 1e-3)
    started = time.perf_counter()
    for i in range(0, len(steps), 50):
        widget.add_batches(steps[i:i + 50], losses[i:i + 50], lrs[i:i + 50])
        qapp.processEvents()  # timers fire, redraws and paints happen as in the running app
    widget.flush()
    qapp.processEvents()
    elapsed = time.perf_counter() - started
    assert widget.point_count() == 150_000
    assert length(widget.raw_curve) == 150_000
    # (no assert on the time itself: timings belong in bench/, not in tests)
    # 3,000 calls coalesce into redraws paced by the timer, not one setData per call
    # (a coarse Qt timer may fire up to 5% early: allow 10%)
    most = elapsed * 1000 / (0.9 * curves_module.REDRAW_INTERVAL_MS) + 2
    assert 1 <= widget.redraw_count <= most, (widget.redraw_count, elapsed)
    for curve in (widget.raw_curve, widget.smooth_curve, widget.lr_curve):
        assert curve.opts["autoDownsample"] is True
        assert curve.opts["downsampleMethod"] == "peak"
        assert curve.opts["clipToView"] is True
    drawn, _ = widget.raw_curve.getData()  # downsampled to the plot's width in pixels
    assert len(drawn) < 20_000


def test_smoothing_zero_is_raw(widget):
    steps, losses = noisy_loss(500)
    widget.set_smoothing(0.0)
    widget.add_batches(steps, losses, np.full(500, 0.1))
    np.testing.assert_allclose(widget.smoothed(), losses)


def test_smoothing_matches_tensorboard_incrementally_and_after_the_slider_moves(widget):
    steps, losses = noisy_loss(2000, seed=3)
    widget.set_smoothing(0.9)
    for i in range(0, 2000, 13):  # state carried across chunks
        widget.add_batches(steps[i:i + 13], losses[i:i + 13], np.full(len(steps[i:i + 13]), 0.1))
    smoothed = widget.smoothed()
    np.testing.assert_allclose(smoothed, reference_ema(losses, 0.9), rtol=1e-10)
    assert np.var(np.diff(smoothed)) < 0.05 * np.var(np.diff(losses))  # much smoother
    widget.flush()
    np.testing.assert_allclose(values(widget.smooth_curve), smoothed)  # what is drawn

    widget.smoothing_slider.setValue(30)  # the user drags the slider: everything re-smoothed
    assert widget.smoothing() == pytest.approx(0.3)
    assert widget.smoothing_label.text() == "0.30"
    np.testing.assert_allclose(widget.smoothed(), reference_ema(losses, 0.3), rtol=1e-10)
    widget.add_batches([2001], [0.5], [0.1])  # and continues from the recomputed state
    np.testing.assert_allclose(widget.smoothed(),
                               reference_ema(np.append(losses, 0.5), 0.3), rtol=1e-10)
    widget.flush()
    np.testing.assert_allclose(values(widget.smooth_curve), widget.smoothed())


def test_ema_continues_where_it_stopped():
    _, losses = noisy_loss(300, seed=4)
    whole = ema(losses, 0.8)[0]
    first, last, count = ema(losses[:100], 0.8)
    rest = ema(losses[100:], 0.8, last, count)[0]
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, rtol=1e-12)
    np.testing.assert_allclose(whole, reference_ema(losses, 0.8), rtol=1e-10)


def test_non_finite_losses_leave_the_smoothing_alone():
    values = np.array([1.0, np.nan, np.inf, 3.0])
    smoothed = ema(values, 0.5)[0]
    assert np.isnan(smoothed[1]) and np.isnan(smoothed[2])
    np.testing.assert_allclose(smoothed[[0, 3]], reference_ema([1.0, 3.0], 0.5))


def test_nan_train_metric_is_not_plotted(widget):
    for epoch in range(4):  # regression: the trainer measures no train metric
        widget.add_epoch(epoch, 1.0, 1.2, math.nan, 0.3 - 0.05 * epoch, "mae")
    widget.flush()
    assert length(widget.train_metric_curve) == 0
    assert length(widget.val_metric_curve) == 4
    assert length(widget.train_loss_curve) == 4
    assert widget.metric_plot.titleLabel.text == "MAE"
    assert legend_labels(widget.metric_plot) == ["validation"]  # no empty "train" entry
    np.testing.assert_allclose(values(widget.val_metric_curve),
                               [0.3, 0.25, 0.2, 0.15])  # MAE is not scaled
    widget.add_epoch(4, 1.0, 1.2, 0.2, math.nan, "mae")  # only the finite points are drawn
    widget.flush()
    assert length(widget.train_metric_curve) == 1
    assert length(widget.val_metric_curve) == 4
    assert legend_labels(widget.metric_plot) == ["train", "validation"]


def test_export_csv_round_trips(widget, tmp_path):
    steps, losses = noisy_loss(257, seed=5)
    lrs = np.geomspace(1e-2, 1e-5, 257)
    widget.add_batches(steps, losses, lrs)
    for epoch in range(3):
        widget.add_epoch(epoch, 0.9 - 0.1 * epoch, 1.0 - 0.1 * epoch,
                         math.nan if epoch == 0 else 0.8, 0.7 + 0.01 * epoch, "accuracy")
    path = tmp_path / "curves.csv"
    widget.export_csv(str(path))

    batch_text, epoch_text = path.read_text().split("\n\n")
    batch_rows = list(csv.reader(io.StringIO(batch_text)))
    epoch_rows = list(csv.reader(io.StringIO(epoch_text)))
    assert batch_rows[0] == ["step", "loss", "smoothed_loss", "lr"]
    assert epoch_rows[0] == ["epoch", "train_loss", "val_loss", "train_metric", "val_metric"]
    table = np.array([[float(c) for c in row] for row in batch_rows[1:]])
    np.testing.assert_array_equal(table[:, 0], steps)
    np.testing.assert_array_equal(table[:, 1], losses)  # repr: exact round trip
    np.testing.assert_array_equal(table[:, 2], widget.smoothed())
    np.testing.assert_array_equal(table[:, 3], lrs)
    epochs = np.array([[float(c) if c else math.nan for c in row] for row in epoch_rows[1:]])
    run = widget.current_run()
    np.testing.assert_array_equal(epochs[:, 0], run.epochs + 1)
    for column, values in enumerate((run.train_loss, run.val_loss, run.train_metric,
                                      run.val_metric), start=1):
        np.testing.assert_array_equal(epochs[:, column], values)  # NaN == NaN here
    assert epoch_rows[1][3] == ""  # not measured: an empty cell


def test_export_png_writes_the_plots(widget, tmp_path):
    steps, losses = noisy_loss(3000)
    widget.add_batches(steps, losses, np.geomspace(1e-3, 1e-5, 3000))
    for epoch in range(5):
        widget.add_epoch(epoch, 1 / (epoch + 1), 1.2 / (epoch + 1), 0.5, 0.6, "accuracy")
    path = tmp_path / "curves.png"
    widget.export_png(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # four plots with text and curves, not a blank rectangle
    image = QImage(str(path))
    assert image.width() >= 2 * widget.plots.width() - 2  # rendered at 2x for sharp text
    assert image.height() >= 2 * widget.plots.height() - 2
    small = image.scaled(64, 40)
    colours = {small.pixel(x, y) for x in range(64) for y in range(40)}
    assert len(colours) > 20


def test_export_png_of_a_hidden_widget(qtbot, tmp_path):
    w = TrainingCurves()  # never shown (e.g. exported from the run history)
    qtbot.addWidget(w)
    w.add_batches([1, 2, 3], [1.0, 0.8, 0.7], [0.1, 0.1, 0.1])
    path = tmp_path / "hidden.png"
    w.export_png(str(path), scale=1.0)
    image = QImage(str(path))
    assert image.width() >= 900 and image.height() >= 560


def test_overlays_appear_in_the_legends_and_are_replaced(widget):
    steps, losses = noisy_loss(400)
    epochs = np.arange(4)
    run_a = CurveRun("run A", steps, losses, epochs, [1, .8, .6, .5], [1.1, .9, .7, .6],
                     [.5, .6, .7, .8], [.45, .55, .65, .75], "accuracy")
    run_b = CurveRun("run B", steps, losses * 1.1, epochs, [1, .8, .6, .5], [1.1, .9, .7, .6],
                     [math.nan] * 4, [.4, .5, .6, .7], "accuracy")
    widget.set_metric_name("accuracy")
    widget.set_overlays([run_a, run_b])
    for plot in (widget.batch_plot, widget.epoch_plot, widget.metric_plot):
        labels = legend_labels(plot)
        assert "run A" in labels and "run B" in labels
    layer = widget.overlay_layers[widget.batch_plot]
    assert len(layer.curves) == 2

    widget.set_overlays([CurveRun("run C", steps, losses * 0.9, epochs, [1, .8, .6, .5],
                                  [1.1, .9, .7, .6], [.5] * 4, [.5] * 4, "accuracy")])
    for plot in (widget.batch_plot, widget.epoch_plot, widget.metric_plot):
        labels = legend_labels(plot)
        assert "run C" in labels
        assert "run A" not in labels and "run B" not in labels
    assert len(layer.curves) == 1  # replaced, not hidden
    assert widget.overlay_labels() == ["run C"]
    # overlays are dashed and behind the current run
    assert layer.curves[0][2].style().name == "DashLine"
    assert layer.zValue() < widget.smooth_curve.zValue()
    # a regression run's MAE is not mixed into an accuracy plot
    widget.set_overlays([CurveRun("reg", steps, losses, epochs, [1] * 4, [1] * 4,
                                  [math.nan] * 4, [.3] * 4, "mae")])
    assert "reg" not in legend_labels(widget.metric_plot)
    assert "reg" in legend_labels(widget.epoch_plot)


def test_current_run_is_a_snapshot_that_can_be_overlaid(widget):
    widget.add_batches([1, 2], [1.0, 0.9], [0.1, 0.1])
    widget.add_epoch(0, 0.95, 1.0, 0.5, 0.4, "accuracy")
    run = widget.current_run("first")
    widget.add_batches([3], [0.8], [0.1])
    assert list(run.steps) == [1, 2] and list(run.losses) == [1.0, 0.9]
    assert run.metric == "accuracy" and run.label == "first"
    widget.clear()
    widget.set_overlays([run])
    assert "first" in legend_labels(widget.epoch_plot)


def test_clear_empties_everything(widget):
    steps, losses = noisy_loss(100)
    widget.add_batches(steps, losses, np.full(100, 0.01))
    widget.add_epoch(0, 1.0, 1.1, 0.5, 0.4, "accuracy")
    widget.set_overlays([CurveRun("old", steps, losses, [0], [1.0], [1.0], [0.5], [0.5])])
    widget.flush()
    widget.clear()
    assert widget.point_count() == 0 and widget.epoch_count() == 0
    assert len(widget.smoothed()) == 0
    for curve in (widget.raw_curve, widget.smooth_curve, widget.lr_curve,
                  widget.train_loss_curve, widget.val_loss_curve, widget.train_metric_curve,
                  widget.val_metric_curve):
        assert length(curve) == 0
    assert "old" not in legend_labels(widget.batch_plot)
    assert widget.overlay_labels() == []
    assert widget.count_label.text() == ""
    run = widget.current_run()
    assert len(run.steps) == 0 and len(run.epochs) == 0
    widget.add_batches([1], [2.0], [0.1])  # the smoothing starts afresh (bias correction)
    assert widget.smoothed()[0] == pytest.approx(2.0)


def test_learning_rate_axis_goes_log_when_it_spans_decades(widget):
    widget.add_batches([1, 2], [1, 1], [3e-4, 3e-4])
    widget.flush()
    low, high = widget.lr_plot.viewRange()[1]
    assert low <= 0 < 3e-4 < high <= 1e-3  # a constant rate is shown against zero
    widget.add_batches([3], [1], [5e-4])
    widget.flush()
    low, high = widget.lr_plot.viewRange()[1]
    assert not widget.lr_plot.getAxis("left").logMode
    assert 0 < low < 3e-4 and 5e-4 < high < 6e-4  # fitted to the rates, no longer from zero
    widget.add_batches([4, 5], [1, 1], [1e-5, 0.0])  # zero (end of a schedule) is skipped
    widget.flush()
    assert widget.lr_plot.getAxis("left").logMode
    assert not any(widget.lr_plot.getViewBox().autoRangeEnabled())  # stays coarse
    assert widget.lr_plot.viewRange()[0] == widget.batch_plot.viewRange()[0]
    low, high = widget.lr_plot.viewRange()[1]  # in decades
    assert low < math.log10(1e-5) and math.log10(5e-4) < high < math.log10(1e-3)
    assert [format_rate(v) for v in (0.01, 0.001, 5e-4, 2.5e-5)] == ["0.01", "0.001", "5e-4",
                                                                     "2.5e-5"]


def test_colours_follow_the_palette(widget):
    dark = QPalette(widget.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Window, QColor("#2b2b2b"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e0e0e0"))
    widget.setPalette(dark)
    assert widget.plots.backgroundBrush().color() == QColor("#1e1e1e")
    assert widget.batch_plot.getAxis("left").textPen().color() == QColor("#e0e0e0")
    light = QPalette(dark)
    light.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    light.setColor(QPalette.ColorRole.WindowText, QColor("#101010"))
    widget.setPalette(light)
    assert widget.plots.backgroundBrush().color() == QColor("#ffffff")
    assert widget.batch_plot.getAxis("left").textPen().color() == QColor("#101010")
    # the current curve's colour differs between the themes (contrast on each background)
    assert widget.smooth_curve.opts["pen"].color() != QColor("#5AA9F0")


def test_export_buttons_ask_for_a_file_and_report_failures(widget, qtbot, tmp_path,
                                                          monkeypatch):
    widget.add_batches([1, 2], [1.0, 0.9], [0.1, 0.1])
    qtbot.waitUntil(widget.export_csv_button.isEnabled, timeout=2000)  # at the redraw
    target = tmp_path / "out"  # no suffix: the button adds it
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "")))
    widget.export_csv_button.click()
    widget.export_png_button.click()
    assert (tmp_path / "out.csv").read_text().startswith("step,loss,smoothed_loss,lr\n1,")
    assert (tmp_path / "out.png").stat().st_size > 1000

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda parent, title, text, *a: warnings.append(text)))
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(blocked / "x.csv"), "")))
    widget.export_csv_button.click()
    assert warnings and "x.csv" in warnings[0]
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    widget.export_csv_button.click()  # cancelled: nothing happens
    assert len(warnings) == 1


def test_add_batches_rejects_mismatched_lengths(widget):
    with pytest.raises(ValueError, match="one of each"):
        widget.add_batches([1, 2], [1.0], [0.1, 0.1])


def test_step_axes_grow_to_round_numbers_at_most_half_empty():
    assert [curves_module.round_up(x) for x in (0, 10, 11, 31, 3000, 3001, 4001)] == \
        [10, 10, 15, 40, 3000, 4000, 5000]
    for x in np.geomspace(11, 1e6, 200):
        assert x <= curves_module.round_up(x) <= 1.5 * x


def test_live_ranges_stay_put_while_new_points_fit(widget):
    """A changed range re-renders the axes: a live update inside the ranges changes none."""
    widget.add_batches(range(1, 121), np.linspace(2.0, 1.0, 120), [1e-3] * 120)
    widget.flush()
    x_before, y_before = widget.batch_plot.viewRange()
    assert x_before == [0, 150] and y_before[0] < 1.0 and y_before[1] > 2.0
    widget.add_batches(range(121, 141), np.full(20, 1.2), [1e-3] * 20)  # inside both
    widget.flush()
    assert widget.batch_plot.viewRange() == [x_before, y_before]
    widget.add_batches(range(141, 161), np.full(20, 0.2), [1e-3] * 20)  # past both: refit
    widget.flush()
    x_after, y_after = widget.batch_plot.viewRange()
    assert x_after == [0, 200] and y_after[0] < 0.2 < 2.0 < y_after[1]
    assert widget.lr_plot.viewRange()[0] == [0, 200]  # the two step axes stay aligned


def test_epoch_and_rate_ranges_stay_put_while_new_points_fit(widget):
    def add(epoch, loss, accuracy, lr):
        widget.add_epoch(epoch, loss, loss * 1.1, accuracy, accuracy, "accuracy")
        widget.add_batches([epoch + 1], [loss], [lr])
        widget.flush()
        return [p.viewRange()[1] for p in (widget.epoch_plot, widget.metric_plot,
                                            widget.lr_plot)]

    add(0, 2.0, 0.5, 1e-3)
    first = add(1, 1.2, 0.7, 1.5e-3)
    assert first[1][0] < 50 and first[1][1] > 70  # accuracy in %
    assert add(2, 1.3, 0.65, 1.2e-3) == first  # inside every range: no axis re-rendered
    moved = add(3, 0.4, 0.9, 1.1e-3)
    assert moved[0][0] < 0.4 < 2.2 < moved[0][1]  # loss refitted
    assert moved[1][1] > 90
    assert moved[2] == first[2]


def test_a_planned_run_lays_the_x_axes_out_once(widget):
    widget.plan_run(steps=600, epochs=30)
    widget.add_batches([1, 2], [1.0, 0.9], [0.1, 0.1])
    widget.add_epoch(0, 1.0, 1.0, 0.5, 0.5, "accuracy")
    widget.flush()
    assert widget.batch_plot.viewRange()[0] == [0, 600]
    assert widget.lr_plot.viewRange()[0] == [0, 600]
    low, high = widget.epoch_plot.viewRange()[0]
    assert low < 1 and 30 < high < 32  # whole epochs 1..30 with a little margin
    before = widget.epoch_plot.viewRange()[0]
    for epoch in range(1, 20):
        widget.add_epoch(epoch, 1.0, 1.0, 0.5, 0.5, "accuracy")
    widget.flush()
    assert widget.epoch_plot.viewRange()[0] == before
    widget.plan_run(steps=1000, epochs=50)  # epochs raised during a pause
    widget.flush()
    assert widget.batch_plot.viewRange()[0] == [0, 1000]
    assert widget.epoch_plot.viewRange()[0][1] > 50
    widget.clear()  # a new run forgets the plan
    widget.add_batches([1], [1.0], [0.1])
    widget.flush()
    assert widget.batch_plot.viewRange()[0] == [0, 10]


def test_a_falling_loss_moves_the_axis_a_few_times_not_with_every_update(widget):
    ranges = []
    for i in range(100):  # 2.3 -> 0.05, as a classifier's loss falls; one update each
        widget.add_batches([i + 1], [0.05 + 2.25 * math.exp(-i / 15)], [1e-3])
        widget.flush()
        ranges.append(tuple(widget.batch_plot.viewRange()[1]))
    assert len(set(ranges)) <= 7
    low, high = ranges[-1]
    assert 0 <= low < 0.05 and 2.3 < high < 2.6  # all of it shown, nothing below zero


def test_refit_keeps_a_range_that_holds_the_data_and_grows_past_an_edge():
    assert curves_module.refit((0.0, 2.0), 0.5, 1.5) is None
    assert curves_module.refit(None, 1.0, 2.0) == pytest.approx((0.9, 2.1))
    assert curves_module.refit((0.0, 10.0), 1.0, 2.0) == pytest.approx((0.9, 2.1))  # too tall
    low, high = curves_module.refit((2.0, 3.0), 1.5, 3.0)  # fell below: room to fall on
    assert low == pytest.approx(1.5 - 0.5 * 1.5) and high == 3.0
    assert curves_module.refit((1.0, 2.0), 0.5, 2.0)[0] == 0.0  # but not below zero
    assert curves_module.refit((60.0, 90.0), 60.0, 97.0, ceiling=100.0)[1] == 100.0


def test_overlays_of_long_runs_keep_their_peaks_in_a_few_points(widget):
    steps = np.arange(1, 200_001, dtype=float)
    losses = np.full(len(steps), 1.0)
    losses[123_456] = 9.0  # one spike
    widget.set_overlays([CurveRun("long", steps, losses, np.arange(3), [1] * 3, [1] * 3,
                                  [.5] * 3, [.5] * 3, "accuracy")])
    widget.set_smoothing(0.0)  # the overlay is the raw loss then
    widget.flush()
    x, y, _ = widget.overlay_layers[widget.batch_plot].curves[0]
    assert len(x) <= curves_module.OverlayLayer.MAX_POINTS
    assert y.max() == 9.0 and x[0] == 1 and x[-1] == 200_000
    assert np.all(np.diff(x) >= 0)  # still in order: drawn as one line
    widget.flush()
    assert widget.batch_plot.viewRange()[1][1] > 9.0  # the axis takes the overlay in


def test_overlays_are_drawn(widget):
    """The overlay layer paints what it holds (a dashed line where the earlier run was)."""
    widget.resize(800, 400)
    widget.show()
    flat = CurveRun("flat", np.arange(1, 101.0), np.full(100, 5.0), np.arange(2), [5, 5],
                    [5, 5], [.5, .5], [.5, .5], "accuracy")
    widget.set_overlays([flat])
    widget.flush()
    before = widget.render_image(1.0)
    widget.set_overlays([])
    widget.flush()
    after = widget.render_image(1.0)
    assert before != after


# ---- readable in a short dock ---------------------------------------------------------------
READABLE_PLOT_HEIGHT = 140  # px: a plot's title, axes and a few ticks without squashing


def settle(qtbot, widget) -> None:
    widget.flush()
    qtbot.wait(50)  # resize events and the legends' anchors are handled on the event loop


def feed_a_run(widget, epochs=5) -> None:
    steps, losses = noisy_loss(300)
    widget.set_metric_name("accuracy")
    widget.plan_run(600, 10)
    widget.add_batches(steps, losses, np.geomspace(1e-3, 1e-5, 300))
    for epoch in range(epochs):
        widget.add_epoch(epoch, 1 / (epoch + 1), 1.2 / (epoch + 1), 0.5 + 0.08 * epoch,
                         0.45 + 0.08 * epoch, "accuracy")


def earlier_runs(count):
    steps, losses = noisy_loss(300, seed=7)
    return [CurveRun(f"run {i + 1}", steps, losses * (1 + 0.1 * i), np.arange(4),
                     [1, .8, .6, .5], [1.1, .9, .7, .6], [.5, .6, .7, .8], [.45, .55, .65, .75],
                     "accuracy") for i in range(count)]


def tick_label_rects(axis):
    """The rectangles of the tick labels ``axis`` draws, each the text's full height
    (pyqtgraph measures 0.8 of it and draws the text unclipped around that centre)."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    painter.setFont(axis.style["tickFont"] or axis.font())
    _, _, texts = axis.generateDrawSpecs(painter)
    painter.end()
    return [rect.adjusted(0, -rect.height() / 8, 0, rect.height() / 8)
            for rect, _, text in texts if text]


def test_an_empty_state_is_shown_until_the_first_point_arrives(widget, qtbot):
    assert widget.empty_state.isVisible() and not widget.plots.isVisible()
    assert "Press Train" in widget.empty_state.text()
    assert not widget.export_png_button.isEnabled()  # nothing to export yet
    widget.add_batches([1, 2], [1.0, 0.9], [0.1, 0.1])
    qtbot.waitUntil(widget.plots.isVisible, timeout=2000)  # at the coalesced redraw
    assert not widget.empty_state.isVisible()
    assert widget.export_png_button.isEnabled()
    widget.clear()  # a new run: empty until its first point
    assert widget.empty_state.isVisible() and not widget.plots.isVisible()
    assert "Press Train" in widget.empty_state.text()
    widget.plan_run(100, 2)  # the run has started: no longer asks to press Train
    assert "Press Train" not in widget.empty_state.text()
    widget.add_epoch(0, 1.0, 1.1, 0.5, 0.4, "accuracy")  # an epoch's point counts too
    widget.flush()
    assert widget.plots.isVisible()
    widget.clear()
    widget.set_overlays(earlier_runs(1))  # earlier runs are something to look at
    widget.flush()
    assert widget.plots.isVisible()


def test_a_short_dock_scrolls_the_plots_instead_of_squashing_them(widget, qtbot):
    feed_a_run(widget)
    widget.resize(960, 180)  # the curves' share of a bottom dock in a 1280x720 window
    settle(qtbot, widget)
    assert widget.minimumSizeHint().height() <= 180  # the dock is not forced tall
    for plot in widget.curve_plots.all_plots():
        assert plot.height() >= READABLE_PLOT_HEIGHT, plot.titleLabel.text
    scroll = widget.plots.parentWidget().parentWidget()
    assert isinstance(scroll, QScrollArea)
    assert scroll.verticalScrollBar().maximum() > 0  # the rest is a scroll away
    widget.resize(1000, 640)  # a tall dock: the plots fill it, nothing to scroll
    settle(qtbot, widget)
    assert scroll.verticalScrollBar().maximum() == 0
    assert widget.batch_plot.height() > 200


def test_legends_lie_inside_their_plots(widget, qtbot):
    feed_a_run(widget)
    widget.set_overlays(earlier_runs(3))  # five entries in each loss/metric legend
    for height in (180, 400, 640):
        widget.resize(960, height)
        settle(qtbot, widget)
        for plot in (widget.batch_plot, widget.epoch_plot, widget.metric_plot):
            box = plot.getViewBox().sceneBoundingRect()
            legend = plot.legend.sceneBoundingRect()
            assert len(plot.legend.items) >= 4
            assert box.contains(legend), (height, plot.titleLabel.text, box, legend)


def test_y_tick_labels_never_overlap(widget, qtbot):
    feed_a_run(widget, epochs=8)
    for height in (180, 400, 640):
        widget.resize(960, height)
        settle(qtbot, widget)
        for plot in widget.curve_plots.all_plots():
            rects = tick_label_rects(plot.getAxis("left"))
            assert len(rects) >= 2, (height, plot.titleLabel.text)  # still a scale to read
            for i, a in enumerate(rects):
                for b in rects[i + 1:]:
                    assert not a.intersects(b), (height, plot.titleLabel.text, a, b)
