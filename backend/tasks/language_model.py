"""Language model: predict the next character of a text (one class per time step or after the
window). A class-label task whose classes are the vocabulary; its baseline is the unigram
model, its report generated text.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from backend.data import DataBundle, Split
from backend.errors import TrainingError
from backend.tasks.base import Baseline, FitContext, bits
from backend.tasks.classification import ClassLabels
from backend.tasks.generate import sample_text


class LanguageModel(ClassLabels):
    name = "language_model"
    title = "language model"
    generates_text = True
    prediction = "next_token"
    spare_classes = True  # the network's vocabulary may cover more characters than the text

    def shape_hint(self, fit: FitContext) -> str:
        if len(fit.out_type.dims) != len(fit.bundle.target_shape) + 1:
            return (" (or set the dataset option targets to 'sequence' for a model that "
                    "predicts at every step, 'next' for one that predicts after the last step)")
        return ""

    def check_inputs(self, fit: FitContext) -> None:
        """An Embedding must know every character id the text gives."""
        bundle, classes = fit.bundle, fit.bundle.num_classes or 0
        if not bundle.sample_shape or bundle.normalization.get("kind") != "text":
            return
        for node in fit.project.graph.nodes:
            if node.type == "Embedding" and node.params["num_embeddings"] < classes:
                raise TrainingError(
                    f"dataset {fit.dataset} has {classes} distinct characters but "
                    f"{node.label()} knows only {node.params['num_embeddings']} token ids: set "
                    f"its num_embeddings to {classes}", node.name)

    def baselines(self, bundle: DataBundle) -> list[Baseline]:
        nats = unigram_baseline(bundle)
        return [Baseline("unigram_baseline_bits_per_char", bits(nats),
                         f"unigram baseline {bits(nats):.3f} bits/char")]

    def describe_data(self, bundle: DataBundle) -> list[tuple[str, str]]:
        every = "at every step" if bundle.target_shape else "after the window"
        return [("Vocabulary", f"{bundle.num_classes} characters"),
                ("Predicts", f"the next character {every}")]

    def epoch_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> list[str]:
        return text_samples(model, bundle, 0.8, n=1, length=200)

    def final_report(self, model: nn.Module, bundle: DataBundle,
                     dataset: dict[str, Any] | None = None) -> list[str]:
        return text_samples(model, bundle, 0.8, n=2, length=300)

    def run_summary(self, model: nn.Module, bundle: DataBundle,
                    best_val_loss: float) -> tuple[dict[str, float], list[str]]:
        ours, unigram = bits(best_val_loss), bits(unigram_baseline(bundle))
        sample = sample_text(model, bundle.normalization["vocab"], bundle.sample_shape[0],
                             "def ", 300, 0.8, seed=0, device=next(model.parameters()).device)
        return ({"val_bits_per_char": ours, "val_unigram_baseline_bits_per_char": unigram},
                [f"validation {ours:.3f} bits/char vs unigram baseline {unigram:.3f}",
                 "sample (temperature 0.8):", sample])


def unigram_baseline(bundle: DataBundle, split: Split | None = None) -> float:
    """Cross-entropy (nats/char) of predicting each next character from train frequencies."""
    split = split or bundle.val
    classes = bundle.num_classes or int(bundle.train.y.max()) + 1
    counts = torch.bincount(bundle.train.y.reshape(-1), minlength=classes).double() + 1.0  # add-one
    log_p = (counts / counts.sum()).log()
    return float(-log_p[split.y.reshape(-1)].mean())


def text_samples(model: nn.Module, bundle: DataBundle, temperature: float, n: int = 3,
                 length: int = 200, seed: int = 0, prompt: str = "") -> list[str]:
    """``n`` pieces of generated text (sample i seeded ``seed + i``: the same every call)."""
    vocab = bundle.normalization.get("vocab") or "".join(bundle.class_names or [])
    window = int(bundle.sample_shape[0])
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    return [sample_text(model, vocab, window, prompt, length, temperature, seed + i, device)
            for i in range(n)]
