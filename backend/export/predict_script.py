"""Run an exported LayerForge model on one input file and print its top prediction
(or, for a detector, its boxes).

    python predict.py digit.png                 # image models (OpenCV reads the file)
    python predict.py window.csv                # time-series models: the last T rows are used
    python predict.py "def hello"               # text models: a text line (or a .txt file)
    python predict.py 0.1,0.5,...               # other vector models: one CSV line of numbers

Needs only torch, numpy and (for images) opencv-python. The model is the TorchScript file
written beside this script (or a LayerForge Python export, ``--model net.py``); its
``layerforge.json`` record says how the network was trained, and this script applies the same
preprocessing: resize, gray/RGB, scaling to the value range, mean/std, flattening.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import sys
import warnings

import numpy as np
import torch

MODEL = "model.pt"  # set by LayerForge's export: the model file beside this script


def load_model(path: str):
    """(model, metadata) from a TorchScript file or a LayerForge Python export (.py)."""
    if path.endswith(".py"):
        spec = importlib.util.spec_from_file_location("layerforge_exported_network", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.load(), dict(module.META)
    extra = {"layerforge.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 deprecates TorchScript
        model = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    meta = json.loads(extra["layerforge.json"] or "{}")
    return model.eval(), meta


def preprocess(source: str, meta: dict) -> torch.Tensor:
    """One input (a file path or a text line) as a batch of one, preprocessed like training."""
    norm = meta.get("normalization") or {}
    kind = norm.get("kind")
    shape = tuple(meta["input"]["shape"])
    if kind == "image":
        x = _image(source, norm)
    elif kind == "series":
        x = _series(source, norm, shape)
    elif kind == "text":
        x = _text(source, norm, shape)
    else:
        x = _numbers(source, norm)
    if meta["input"].get("kind") == "tokens":
        return x.to(torch.int64).reshape(1, *shape)
    return x.to(torch.float32).reshape(1, *shape)


def _image(path: str, norm: dict) -> torch.Tensor:
    import cv2

    if not os.path.isfile(path):
        raise SystemExit(f"error: {path}: no such file")
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SystemExit(f"error: {path}: not an image OpenCV can read")
    depth = 65535.0 if img.dtype == np.uint16 else 255.0
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if norm.get("channels", 1) == 1:
        # COLOR_BGR2GRAY uses ITU-R 601 luma, the weights training used for RGB -> gray
        img = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else \
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    height, width = norm["size"]
    _image.original = img.shape[:2]  # boxes are given back in the file's pixels
    if img.shape[:2] != (height, width):
        shrinking = img.shape[0] > height or img.shape[1] > width
        # INTER_AREA antialiases when shrinking, as training's resize does
        img = cv2.resize(img, (width, height),
                         interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    x = img.astype(np.float32) / depth
    if x.ndim == 2:
        x = x[:, :, None]
    low, high = norm.get("value_range", [0.0, 1.0])
    x = low + x * (high - low)
    x = (x - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"], np.float32)
    x = x.transpose(2, 0, 1)  # HWC -> CHW
    if norm.get("flatten"):
        x = x.reshape(-1)
    return torch.from_numpy(np.ascontiguousarray(x))


def _read_rows(path: str) -> tuple[list[str] | None, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    header = None
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    return header, rows


def _series(path: str, norm: dict, shape: tuple[int, ...]) -> torch.Tensor:
    columns = norm["columns"]
    header, rows = _read_rows(path)
    if header is not None:
        missing = [c for c in columns if c not in header]
        if missing:
            raise SystemExit(f"error: {path}: no column(s) {', '.join(missing)}")
        picks = [header.index(c) for c in columns]
    else:
        picks = list(range(len(columns)))
    window = shape[0]
    if len(rows) < window:
        raise SystemExit(f"error: {path}: the model reads {window} rows, the file has {len(rows)}")
    raw = np.array([[float(r[i]) for i in picks] for r in rows[-window:]], dtype=np.float64)
    mean, std = np.asarray(norm["mean"]), np.asarray(norm["std"])
    x = (raw - mean) / std
    for j in norm.get("relative_index") or []:
        x[:, j] = (raw[:, j] - raw[-1, j]) / std[j]  # relative to the window's last value
    _series.last_row = raw[-1]
    return torch.from_numpy(x.astype(np.float32))


def _text(source: str, norm: dict, shape: tuple[int, ...]) -> torch.Tensor:
    text = open(source, encoding="utf-8").read() if os.path.isfile(source) else source
    vocab = norm["vocab"]
    unknown = sorted({ch for ch in text if ch not in vocab})
    if unknown:
        raise SystemExit(f"error: character(s) {''.join(unknown)!r} are not in the model's "
                         f"vocabulary")
    window = shape[0]
    text = text[-window:].rjust(window)  # the model reads exactly T characters
    return torch.tensor([vocab.index(ch) for ch in text], dtype=torch.int64)


def _numbers(source: str, norm: dict) -> torch.Tensor:
    text = open(source, encoding="utf-8").read() if os.path.isfile(source) else source
    values = np.array([float(v) for v in text.replace("\n", ",").split(",") if v.strip()],
                      dtype=np.float32)
    if "mean" in norm and "std" in norm:
        values = (values - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"],
                                                                              np.float32)
    return torch.from_numpy(values)


# How an output reads, by the "prediction" its task declared at export (LayerForge's
# backend/tasks); exports written before that field existed name only their task.
PREDICTION_OF_TASK = {"classification": "top_k", "regression": "value",
                      "language_model": "next_token", "detection": "boxes"}


def describe(output: torch.Tensor, meta: dict, top: int) -> list[str]:
    """The prediction in words: top classes/characters with probabilities, or the forecast."""
    prediction = meta.get("prediction") or PREDICTION_OF_TASK.get(meta.get("task"), "top_k")
    out = output[0].float()
    if prediction == "boxes":  # rows x1, y1, x2, y2, score, class in the model's input pixels
        classes = meta.get("class_names") or []
        height, width = (meta.get("normalization") or {}).get("size", [1, 1])
        rows_h, rows_w = getattr(_image, "original", (height, width))
        scale = [rows_w / width, rows_h / height] * 2  # back to the file's own pixels
        lines = []
        for x1, y1, x2, y2, score, label in out.reshape(-1, 6).tolist():
            if label < 0 or score <= 0:
                continue
            name = classes[int(label)] if int(label) < len(classes) else str(int(label))
            box = ", ".join(f"{v * s:.1f}" for v, s in zip((x1, y1, x2, y2), scale))
            lines.append(f"{name}: {score * 100:.1f}% at [{box}]")
        return lines or ["no objects found"]
    if prediction == "value":
        norm = meta.get("normalization") or {}
        if norm.get("kind") != "series":
            return [f"output: {v:.6g}" for v in out.reshape(-1).tolist()]
        lines = []
        for k, (name, j) in enumerate(zip(norm["target_columns"], norm["target_index"])):
            base = _series.last_row[j] if norm.get("relative") else norm["mean"][j]
            value = base + float(out.reshape(-1)[k]) * norm["std"][j]
            lines.append(f"{name} in {norm['horizon']} step(s): {value:.6g}")
        return lines
    if out.dim() > 1:  # one prediction per step: the last step predicts what comes next
        out = out[-1]
    probs = torch.softmax(out, dim=-1)
    values, indices = probs.topk(min(top, probs.numel()))
    if prediction == "next_token":
        vocab = (meta.get("normalization") or {}).get("vocab", "")
        names = [repr(vocab[i]) if i < len(vocab) else str(i) for i in indices.tolist()]
    else:
        classes = meta.get("class_names") or []
        names = [classes[i] if i < len(classes) else str(i) for i in indices.tolist()]
    return [f"{name}: {p * 100:.1f}%" for name, p in zip(names, values.tolist())]


def main(argv: list[str] | None = None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="image file, CSV file, text line or numbers")
    parser.add_argument("--model", default=os.path.join(here, MODEL),
                        help="TorchScript file (.pt) or Python export (.py)")
    parser.add_argument("--top", type=int, default=3, help="how many classes to list")
    parser.add_argument("--json", action="store_true", help="print the raw outputs as JSON")
    args = parser.parse_args(argv)
    model, meta = load_model(args.model)
    x = preprocess(args.input, meta)
    with torch.no_grad():
        output = model(x)
    if args.json:
        print(json.dumps({"output": output.float().tolist(),
                          "prediction": describe(output, meta, args.top)}))
    else:
        print("\n".join(describe(output, meta, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
