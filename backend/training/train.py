"""The headless trainer: a plain generator of typed events, with no Qt.

The GUI iterates it on a worker thread (and turns events into throttled signals), the CLI
prints it, a cluster job runs it under torchrun. ``pause()``, ``resume()``, ``stop()`` and
``update_settings()`` may be called from any thread; they take effect between two batches.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from backend.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from backend.compile.compiler import compile_graph, locate_failure
from backend.data import (Augmenter, DataBundle, DataError, DownloadCancelled, DownloadProgress,
                          load_dataset, reporting)
from backend.errors import TrainingError
from backend.tasks import FitContext, Task, evaluate, get_task
from backend.training import distributed
from backend.training.monitor import LayerMonitor, LayerStat
from backend.compile.backbones import load_pretrained_weights
from graph.errors import LayerForgeError
from graph.project import Project
from graph.settings import LIVE_SETTINGS, TRAINING_INDEX
from graph.validate import Analysis, analyze

log = logging.getLogger(__name__)


# ---- events ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    device: str
    epochs: int
    batches_per_epoch: int
    train_samples: int
    parameters: int
    task: str
    metric: str
    start_epoch: int = 0
    trainable_parameters: int = -1  # of ``parameters``, those the optimizer updates


@dataclass(frozen=True)
class BatchEnd:
    epoch: int          # 0-based
    batch: int          # 0-based within the epoch
    batches: int
    step: int           # global optimizer step
    loss: float
    lr: float
    samples_per_second: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    train_loss: float
    train_metric: float
    val_loss: float
    val_metric: float
    metric: str
    lr: float
    seconds: float
    report: Any = None  # what the run's epoch_report callback returned (e.g. a forecast)


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    val_loss: float


@dataclass(frozen=True)
class LayerStats:
    """Per-layer activation statistics and gradient norms of one sampled batch."""

    epoch: int
    step: int
    layers: dict[str, LayerStat]


@dataclass(frozen=True)
class Paused:
    epoch: int
    batch: int


@dataclass(frozen=True)
class Resumed:
    changed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finished:
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    test: dict[str, float]
    checkpoint: str | None
    stopped_by_user: bool = False
    stopped_early: bool = False
    report: Any = None  # what the run's final_report callback returned (test-set views)


@dataclass(frozen=True)
class Failed:
    message: str
    node_name: str | None = None
    checkpoint: str | None = None  # the last good checkpoint, kept


Event = (Started | BatchEnd | EpochEnd | CheckpointSaved | LayerStats | Paused | Resumed
         | Finished | Failed)


# ---- helpers -----------------------------------------------------------------------------

def pick_device(choice: str) -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU. Asking for a missing device is a clear error."""
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for but no CUDA GPU is available: choose "
                            "'auto' or 'cpu'")
    if choice == "mps" and not (getattr(torch.backends, "mps", None)
                                and torch.backends.mps.is_available()):
        raise TrainingError("device 'mps' is only available on Apple silicon: choose 'auto' "
                            "or 'cpu'")
    return torch.device(choice)


def available_devices() -> list[str]:
    """Devices this machine can train on, best first."""
    devices = []
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" if i else "cuda" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return devices + ["cpu"]


LOSSES = {
    "cross_entropy": nn.CrossEntropyLoss, "mse": nn.MSELoss, "l1": nn.L1Loss,
    "bce_with_logits": nn.BCEWithLogitsLoss, "nll": nn.NLLLoss,
}
AUGMENT_KEYS = ("flip", "shift", "rotate", "noise")


def _augmenter(settings: dict[str, Any]) -> Augmenter:
    return Augmenter.from_options({k: settings[k] for k in AUGMENT_KEYS})


def input_of(project: Project) -> tuple[str, tuple[int, ...]]:
    """(kind, per-sample shape) of the project's single Input node."""
    inputs = [n for n in project.graph.nodes if n.type == "Input"]
    if len(inputs) != 1:
        raise TrainingError(f"training feeds one dataset into one Input node, but this network "
                            f"has {len(inputs)} Input nodes")
    return inputs[0].params["kind"], tuple(inputs[0].params["shape"])


def check_fit(project: Project, analysis: Analysis, bundle: DataBundle, loss: str) -> None:
    """Does the network's Output fit the dataset's targets and the loss? Says how to fix."""
    if not analysis.is_valid:
        raise TrainingError("the network has errors; fix them first:\n" + analysis.summary())
    outputs = [n for n in project.graph.nodes if n.type == "Output"]
    if len(outputs) != 1:
        raise TrainingError(f"training needs exactly one Output node; this network has "
                            f"{len(outputs)}")
    out_type = analysis.info[outputs[0].id].inputs["in"]
    feeder = project.graph.node(project.graph.edges_into(outputs[0].id)[0].source)
    get_task(bundle.task).check_fit(FitContext(project, bundle, loss, out_type, feeder))


def _optimizer(params, s: dict[str, Any]) -> torch.optim.Optimizer:
    lr, wd = s["learning_rate"], s["weight_decay"]
    if s["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=s["momentum"], weight_decay=wd)
    if s["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=s["momentum"], weight_decay=wd)
    if s["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


def _scheduler(opt, s: dict[str, Any], steps_per_epoch: int):
    """The LR schedule, and whether it steps per batch (one-cycle) or per epoch."""
    if s["schedule"] == "step":
        return torch.optim.lr_scheduler.StepLR(opt, s["step_size"], s["gamma"]), False
    if s["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(s["epochs"], 1)), False
    if s["schedule"] == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=s["learning_rate"], epochs=s["epochs"],
            steps_per_epoch=steps_per_epoch), True
    return None, False


def rescale_learning_rate(opt, scheduler, ratio: float) -> None:
    """A learning rate changed during a run: the setting is the schedule's base rate (the
    start of step and cosine, the peak of one-cycle), so the whole schedule is scaled by
    new/old: the rate now becomes ``ratio`` times what it was and the remaining schedule keeps
    its shape (one-cycle still warms up and anneals, around the new peak). Param groups with
    their own rates (a pre-trained backbone's) keep their proportion."""
    for group in opt.param_groups:
        group["lr"] *= ratio
        for k in ("initial_lr", "max_lr", "min_lr"):  # what the schedules compute from
            if k in group:
                group[k] *= ratio
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [lr * ratio for lr in scheduler.base_lrs]


# ---- the run -----------------------------------------------------------------------------

class TrainingRun:
    """One training run of a project. Iterate ``events()`` to run it."""

    def __init__(self, project: Project, *, out_dir: str | Path | None = None,
                 bundle: DataBundle | None = None, resume_from: str | Path | None = None,
                 monitor_interval: float | None = None,
                 epoch_report: Callable[[nn.Module, DataBundle], Any] | None = None,
                 final_report: Callable[[nn.Module, DataBundle], Any] | None = None,
                 tensorboard_dir: str | Path | None = None, **overrides: Any) -> None:
        """``monitor_interval``: seconds between LayerStats samples (None: never).
        ``epoch_report(model, bundle)`` runs on the training thread after each epoch's
        validation (so it never races the training) and its result rides on EpochEnd;
        ``final_report(model, bundle)`` runs there once on the best weights after the test
        evaluation, and its result rides on Finished (so the GUI thread never runs torch)."""
        self.project = project
        self.settings = dict(project.training)
        for key, value in overrides.items():
            if value is not None:
                problem = TRAINING_INDEX[key].problem(value)
                if problem:
                    raise TrainingError(f"training setting {problem}")
                self.settings[key] = TRAINING_INDEX[key].coerce(value)
        # Under torchrun only rank 0 writes checkpoints and logs (the others train alike).
        self.world = distributed.world_from_env()
        self.out_dir = Path(out_dir) if out_dir and self.world.is_main else None
        self.bundle = bundle
        self.resume_from = resume_from
        self.model: nn.Module | None = None
        self.history: list[dict[str, float]] = []
        self.best_path: Path | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._weights_lock = threading.Lock()  # held while the optimizer writes the weights
        self._pending: dict[str, Any] = {}
        self._best_state: dict[str, torch.Tensor] | None = None  # when there is no out_dir
        self.monitor_interval = monitor_interval
        self.epoch_report = epoch_report
        self.final_report = final_report
        self.tensorboard_dir = tensorboard_dir if self.world.is_main else None
        # while the dataset or pretrained weights download (before Started): how far, for a
        # window to poll
        self.setup_progress: DownloadProgress | None = None

    # -- control, from any thread --
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused run so it can end

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def snapshot(self) -> dict[str, torch.Tensor] | None:
        """A CPU copy of the weights as they are now, from any thread (to test the model live
        while it trains); never half an optimizer step. None before the model is built."""
        model = self.model
        if model is None:
            return None
        with self._weights_lock:
            return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    def update_settings(self, **changes: Any) -> None:
        """Change safe settings (learning rate, ...) for the next batch; others raise."""
        staged = {}
        for key, value in changes.items():
            if key not in LIVE_SETTINGS:
                raise TrainingError(f"'{key}' cannot change during a run; stop and start again")
            if key == "epochs" and self.settings["schedule"] in ("cosine", "one_cycle"):
                raise TrainingError(f"epochs cannot change during a run with the "
                                    f"{self.settings['schedule']} schedule")
            problem = TRAINING_INDEX[key].problem(value)
            if problem:
                raise TrainingError(problem)
            staged[key] = TRAINING_INDEX[key].coerce(value)
        with self._lock:
            self._pending.update(staged)

    # -- the loop --
    def events(self) -> Iterator[Event]:
        """Run the training, yielding events. Never raises for user-caused problems: it
        yields Failed and ends."""
        try:
            yield from self._run()
        except TrainingError as exc:
            yield Failed(str(exc), exc.node_name, self._best())
        except DownloadCancelled:
            yield Failed("stopped while downloading (the dataset or pretrained weights): nothing "
                         "was trained; the download starts again with the next run")
        except DataError as exc:
            yield Failed(str(exc), None, self._best())
        except LayerForgeError as exc:  # e.g. a backbone's weights file (names its node)
            yield Failed(str(exc), getattr(exc, "node_name", None), self._best())
        except torch.cuda.OutOfMemoryError:
            yield Failed("out of memory: lower the batch size or use a smaller network",
                         None, self._best())

    def _downloading(self, progress: DownloadProgress) -> None:
        self.setup_progress = progress

    def _best(self) -> str | None:
        return str(self.best_path) if self.best_path and self.best_path.exists() else None

    def _setup(self):
        s = self.settings
        torch.manual_seed(s["seed"])
        device = distributed.join(self.world, pick_device(s["device"]))
        start_epoch, resume = 0, None
        if self.resume_from:
            resume = load_checkpoint(self.resume_from)
            self.project = resume.project
            start_epoch = resume.epoch + 1
            self.history = list(resume.history)
        analysis = analyze(self.project.graph)
        model = compile_graph(self.project.graph, analysis)
        # downloads (dataset, pretrained weights) report how far they are and end at stop()
        try:
            with reporting(self._downloading, self._stop.is_set):
                if self.bundle is None:
                    kind, shape = input_of(self.project)
                    self.bundle = load_dataset(self.project.dataset, kind, shape,
                                               seed=s["seed"])
                check_fit(self.project, analysis, self.bundle, s["loss"])
                if resume:
                    model.load_state_dict(resume.state_dict)
                else:  # a checkpoint brings its own weights; a fresh run fetches them here
                    for line in load_pretrained_weights(model):
                        log.info(line)
        finally:
            self.setup_progress = None
        self.model = model.to(device)
        return device, start_epoch, resume

    def _tensorboard(self):
        """A SummaryWriter when TensorBoard logging was asked for (optional dependency)."""
        if self.tensorboard_dir is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainingError("TensorBoard logging needs the tensorboard package: "
                                "pip install tensorboard (or turn the logging off)") from None
        return SummaryWriter(log_dir=str(self.tensorboard_dir))

    def _run(self) -> Iterator[Event]:
        writer = self._tensorboard()
        try:
            for event in self._train():
                if writer is not None:
                    _log_event(writer, event)
                yield event
        finally:
            if writer is not None:
                writer.close()

    def _train(self) -> Iterator[Event]:
        s = self.settings
        device, start_epoch, resume = self._setup()
        model, bundle = self.model, self.bundle
        assert model is not None and bundle is not None
        train = bundle.train
        if len(train) == 0 or len(bundle.val) == 0:
            raise TrainingError(f"dataset '{bundle.name}' has too few samples to train and "
                                f"validate")
        world = self.world
        per_rank = len(train) // world.size  # each rank trains on its share of every epoch
        batch_size = min(s["batch_size"], per_rank)
        batches = per_rank // batch_size  # drop the ragged last batch: steady BatchNorm
        step_model = distributed.wrap(model, world, device)  # DDP averages the gradients
        loss_name = s["loss"]
        task: Task = get_task(bundle.task)
        loss_fn = task.criterion(loss_name) or LOSSES[loss_name]()  # a task's own, or torch's
        trainable = [p for p in model.parameters() if p.requires_grad]  # frozen layers: not
        if not trainable:
            raise TrainingError("nothing to train: every layer is frozen. Turn off 'freeze' on "
                                "a Backbone (or set unfreeze_last), turn on 'fine_tune' on an "
                                "ImportedModel, or add a layer after it")
        opt = _optimizer(trainable, s)
        scheduler, per_batch = _scheduler(opt, s, batches)
        if resume and resume.optimizer:
            opt.load_state_dict(resume.optimizer)
        if resume and resume.scheduler and scheduler is not None:
            scheduler.load_state_dict(resume.scheduler)
        augment = _augmenter(s) if len(bundle.sample_shape) == 3 and task.pixel_augment \
            else None
        augment_batch = task.batch_augmenter(bundle, s)  # e.g. boxes moving with the pixels
        amp = s["mixed_precision"] and device.type == "cuda"
        amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
        gen = torch.Generator().manual_seed(s["seed"] + start_epoch)
        metric = task.metric.name
        n_params = sum(p.numel() for p in model.parameters())
        yield Started(str(device), s["epochs"], batches, len(train), n_params, bundle.task,
                      metric, start_epoch, sum(p.numel() for p in trainable))

        # the best epoch so far, as the task ranks them (by validation loss, or its metric)
        best = min(self.history, default=None, key=lambda h: task.rank_key(
            {"loss": h["val_loss"], metric: h["val_metric"]}))
        best_rank = task.rank_key({"loss": best["val_loss"], metric: best["val_metric"]}) \
            if best else math.inf
        best_loss, best_epoch = (best["val_loss"], best["epoch"]) if best else (math.inf, -1)
        stale, step, epoch = 0, start_epoch * batches, start_epoch
        stopped_by_user = stopped_early = False
        monitor = LayerMonitor(model) if self.monitor_interval is not None else None
        last_sample = -math.inf
        while epoch < s["epochs"]:
            model.train()
            started = time.perf_counter()
            lr = opt.param_groups[0]["lr"]
            order = distributed.shard(torch.randperm(len(train), generator=gen), world)
            run_loss = run_correct = 0.0
            seen = labels = 0
            for b in range(batches):
                # -- between two batches: pause / stop / new settings
                if not self._running.is_set():
                    yield Paused(epoch, b)
                    self._running.wait()
                    changed = self._apply_pending(opt, scheduler)
                    if augment is not None and any(k in changed for k in AUGMENT_KEYS):
                        augment = _augmenter(s)
                    yield Resumed(changed)
                if self._stop.is_set():
                    stopped_by_user = True
                    break
                if self._pending:
                    changed = self._apply_pending(opt, scheduler)
                    if augment is not None and any(k in changed for k in AUGMENT_KEYS):
                        augment = _augmenter(s)
                t0 = time.perf_counter()
                idx = order[b * batch_size:(b + 1) * batch_size]
                x = train.x[idx].to(device, non_blocking=True)
                y = train.y[idx].to(device, non_blocking=True)
                if augment is not None and augment.enabled:
                    x = augment(x, gen if device.type == "cpu" else None)
                if augment_batch is not None:
                    x, y = augment_batch(x, y)
                sampling = monitor is not None and t0 - last_sample >= self.monitor_interval
                if sampling:
                    monitor.start()
                try:
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                        out = task.forward(step_model, x)
                        loss = task.loss(loss_fn, out, y, loss_name)
                except (RuntimeError, IndexError, ValueError) as exc:
                    if sampling:
                        monitor.finish()  # never leave hooks on the model
                    raise self._locate(exc, x) from None
                if not torch.isfinite(loss):
                    if sampling:
                        monitor.finish()
                    raise TrainingError(
                        f"the loss became {float(loss.detach())} at epoch {epoch + 1}, batch "
                        f"{b + 1}: "
                        f"training diverged. Lower the learning rate (now "
                        f"{opt.param_groups[0]['lr']:.3g}), enable gradient clipping, or check "
                        f"the data for NaN values")
                lr = opt.param_groups[0]["lr"]  # the rate this batch trains with
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if s["grad_clip"] > 0 or sampling:
                    scaler.unscale_(opt)  # true gradient sizes for clipping and for stats
                stats = monitor.finish() if sampling else None  # before clipping hides them
                if s["grad_clip"] > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), s["grad_clip"])
                with self._weights_lock:
                    scaler.step(opt)
                    scaler.update()
                if per_batch and scheduler is not None and step < scheduler.total_steps - 1:
                    scheduler.step()
                step += 1
                value = float(loss.detach())
                run_loss += value * len(idx)
                measured = task.batch_metric(out, y)  # None: not shown for training batches
                if measured is not None:
                    run_correct += measured[0]
                    labels += measured[1]
                seen += len(idx)
                elapsed = time.perf_counter() - t0
                yield BatchEnd(epoch, b, batches, step, value, lr,
                               len(idx) / max(elapsed, 1e-9))
                if stats is not None:
                    last_sample = t0
                    yield LayerStats(epoch, step, stats)
            if stopped_by_user or seen == 0:
                break
            val = evaluate(model, bundle.val, loss_fn, loss_name, task, device)
            if not per_batch and scheduler is not None:
                scheduler.step()
            train_loss, train_metric = distributed.mean(
                [run_loss / seen, run_correct / labels if labels else math.nan], world)
            record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"],
                      "val_metric": val[metric], "train_metric": train_metric,
                      "lr": lr}  # the rate the epoch's last batch trained with
            self.history.append(record)
            report = None
            if self.epoch_report is not None:
                try:
                    report = self.epoch_report(model, bundle)
                except Exception as exc:  # noqa: BLE001 - a report must never end a run
                    log.warning("epoch report failed: %s", exc)
                model.train()
            yield EpochEnd(epoch, s["epochs"], record["train_loss"], train_metric, val["loss"],
                           val[metric], metric, record["lr"], time.perf_counter() - started,
                           report)
            if task.rank_key(val) < best_rank:
                best_rank, best_loss, best_epoch, stale = task.rank_key(val), val["loss"], epoch, 0
                path = self._save(epoch, opt, scheduler, val)
                if path:
                    yield CheckpointSaved(str(path), epoch, val["loss"])
                else:
                    self._best_state = {k: v.detach().clone() for k, v in
                                        model.state_dict().items()}
            else:
                stale += 1
            self._save(epoch, opt, scheduler, val, "last.pt")
            epoch += 1
            if s["early_stopping"] and stale >= s["early_stopping"]:
                stopped_early = True
                break
        # Test with the best weights seen on validation.
        with self._weights_lock:
            if self.best_path and self.best_path.exists():
                model.load_state_dict(load_checkpoint(self.best_path).state_dict)
            elif self._best_state is not None:
                model.load_state_dict(self._best_state)
        test = evaluate(model, bundle.test, loss_fn, loss_name, task, device) \
            if len(bundle.test) else {}
        report = None
        if self.final_report is not None:
            try:
                report = self.final_report(model, bundle)
            except Exception as exc:  # noqa: BLE001 - the run's result must still arrive
                log.warning("final report failed: %s", exc)
        distributed.leave(world)
        yield Finished(epoch - start_epoch, best_epoch, best_loss, test, self._best(),
                       stopped_by_user, stopped_early, report)

    def _apply_pending(self, opt, scheduler) -> dict[str, Any]:
        with self._lock:
            changed, self._pending = self._pending, {}
        for key, value in changed.items():
            if key == "learning_rate":
                rescale_learning_rate(opt, scheduler, value / self.settings["learning_rate"])
            elif key in ("momentum", "weight_decay"):
                for group in opt.param_groups:
                    if key in group:
                        group[key] = value
            self.settings[key] = value
        return changed

    def _locate(self, exc: Exception, x: torch.Tensor) -> TrainingError:
        where = locate_failure(self.model, x) if self.model is not None else None
        if "out of memory" in str(exc).lower():
            return TrainingError("out of memory: lower the batch size or use a smaller network")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if where:
            return TrainingError(f"layer '{where[0]}' failed while training: {first}", where[0])
        return TrainingError(f"training failed: {first}")

    def _save(self, epoch: int, opt, scheduler, val: dict[str, float],
              name: str = "best.pt") -> Path | None:
        """Write best.pt (best validation loss so far) or last.pt (to resume from)."""
        if self.out_dir is None:
            return None
        assert self.model is not None and self.bundle is not None
        path = self.out_dir / name
        if name == "best.pt":
            self.best_path = path
        project = self.project.copy()
        project.training = dict(self.settings)
        save_checkpoint(path, Checkpoint(
            project=project, state_dict=self.model.state_dict(),
            normalization=self.bundle.normalization, task=self.bundle.task,
            class_names=self.bundle.class_names, epoch=epoch,
            metrics={k: float(v) for k, v in val.items()}, optimizer=opt.state_dict(),
            scheduler=scheduler.state_dict() if scheduler is not None else None,
            history=self.history))
        return path


def _log_event(writer, event: Event) -> None:
    """Mirror the run's numbers into TensorBoard."""
    if isinstance(event, BatchEnd):
        writer.add_scalar("loss/batch", event.loss, event.step)
        writer.add_scalar("lr", event.lr, event.step)
    elif isinstance(event, EpochEnd):
        writer.add_scalar("loss/train", event.train_loss, event.epoch + 1)
        writer.add_scalar("loss/val", event.val_loss, event.epoch + 1)
        writer.add_scalar(f"{event.metric}/val", event.val_metric, event.epoch + 1)
        if not math.isnan(event.train_metric):
            writer.add_scalar(f"{event.metric}/train", event.train_metric, event.epoch + 1)
    elif isinstance(event, LayerStats):
        for name, stat in event.layers.items():
            if not math.isnan(stat.grad_norm):
                writer.add_scalar(f"grad_norm/{name}", stat.grad_norm, event.step)


def train(project: Project, **kwargs: Any) -> list[Event]:
    """Run a whole training and return its events (convenience for scripts and tests)."""
    return list(TrainingRun(project, **kwargs).events())
