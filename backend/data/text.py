"""Character-level language modelling: T consecutive characters predict the next one.

The default corpus is built offline from the Python standard library's own docstrings, so a
"tokens" network can be trained without any file or download.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import math
import os
import string
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from backend.data.base import DataBundle, DataError, Split, option

log = logging.getLogger(__name__)

CORPUS_LIMIT = 400_000  # characters of the default corpus
MAX_TRAIN_WINDOWS = 60_000  # the default stride keeps an epoch this short
TRAIN_FRACTION, VAL_FRACTION = 0.90, 0.05

# Pure-Python stdlib modules present in 3.11 and later, importable without side effects.
# Sorted and fixed, so the corpus only changes when the Python version changes the docstrings.
STDLIB_MODULES: tuple[str, ...] = tuple(sorted((
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "code", "codecs",
    "collections", "colorsys", "configparser", "contextlib", "copy", "csv", "dataclasses",
    "difflib", "dis", "email.message", "email.utils", "enum", "filecmp", "fnmatch", "fractions",
    "ftplib", "functools", "getopt", "gettext", "glob", "gzip", "heapq", "hmac", "html",
    "html.parser", "http.client", "http.cookies", "imaplib", "inspect", "ipaddress", "json",
    "logging", "logging.handlers", "mailbox", "mimetypes", "netrc", "numbers", "operator",
    "optparse", "pathlib", "pickle", "pkgutil", "platform", "poplib", "pprint", "queue",
    "quopri", "random", "reprlib", "sched", "secrets", "selectors", "shelve", "shlex", "shutil",
    "smtplib", "socket", "socketserver", "statistics", "string", "subprocess", "tabnanny",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace", "traceback",
    "types", "typing", "unittest.case", "unittest.mock", "urllib.parse", "urllib.request",
    "uuid", "warnings", "wave", "weakref", "xml.dom.minidom", "zipfile",
)))

_PRINTABLE = frozenset(string.printable) - frozenset("\t\r\x0b\x0c")  # ASCII printable + "\n"


def _public_docs(module: Any) -> Iterable[str]:
    """Docstrings of a module, its public classes/functions, and their public methods."""
    yield inspect.getdoc(module) or ""
    for name in sorted(vars(module)):
        obj = getattr(module, name)
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue  # private, or imported from elsewhere (it is documented there)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        yield inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            for attr in sorted(vars(obj)):
                member = vars(obj)[attr]
                if not attr.startswith("_") and inspect.isfunction(member):
                    yield inspect.getdoc(member) or ""


def stdlib_corpus(limit: int = CORPUS_LIMIT) -> str:
    """Deterministic English/code text from stdlib docstrings, printable ASCII plus newlines.

    Built in memory each time (a second or so); nothing is cached on disk.
    """
    seen: set[str] = set()
    parts: list[str] = []
    total = 0
    for mod_name in STDLIB_MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecation notices of old modules
                module = importlib.import_module(mod_name)
        except ImportError:  # a stripped-down Python build: skip, the rest is plenty
            log.debug("text corpus: stdlib module %s unavailable", mod_name)
            continue
        for doc in _public_docs(module):
            doc = "".join(ch for ch in doc if ch in _PRINTABLE).strip()
            if len(doc) < 20 or doc in seen:
                continue  # skip one-liners and docstrings inherited/shared verbatim
            seen.add(doc)
            parts.append(doc)
            total += len(doc) + 2
            if total >= limit:
                return "\n\n".join(parts)[:limit]
    return "\n\n".join(parts)[:limit]


def encode(text: str, vocab: str | list[str]) -> torch.Tensor:
    """Token ids (int64) of ``text``; raises DataError for a character not in the vocabulary."""
    # vectorised over code points: a per-character dict lookup is slow on large texts
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    vocab_codes = np.array([ord(ch) for ch in vocab], dtype=np.uint32)
    order = np.argsort(vocab_codes, kind="stable")
    sorted_codes = vocab_codes[order]
    pos = np.searchsorted(sorted_codes, codes).clip(max=max(len(vocab) - 1, 0))
    if len(vocab) == 0 or not np.array_equal(sorted_codes[pos], codes):
        bad = next(ch for ch in text if ch not in set(vocab))
        raise DataError(f"character {bad!r} is not in the model's vocabulary")
    return torch.from_numpy(order[pos].astype(np.int64))


def decode(ids: Iterable[int] | torch.Tensor, vocab: str | list[str]) -> str:
    """The text of token ids (the inverse of :func:`encode`)."""
    if isinstance(ids, torch.Tensor):
        ids = ids.reshape(-1).tolist()
    return "".join(vocab[int(i)] for i in ids)


def read_text_file(path: Path, dataset: str) -> str:
    """A UTF-8 text file with universal newlines, or DataError naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"dataset '{dataset}': file {path} does not exist; choose a UTF-8 "
                        "text file (option 'path')") from None
    except OSError as exc:
        raise DataError(f"dataset '{dataset}': cannot read {path} ({exc.strerror}); choose a "
                        "readable UTF-8 text file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"dataset '{dataset}': {path} is not UTF-8 text (byte {exc.start}); "
                        "save it as UTF-8 or choose another file") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _windows(ids: torch.Tensor, window: int, stride: int, every_step: bool = False) -> Split:
    """x = ids[i:i+T] for i = 0, stride, ... within this split; y = ids[i+T] (the next
    character), or with ``every_step`` y = ids[i+1:i+T+1] (the next character at every step,
    as a char-RNN is usually trained: T predictions per forward pass)."""
    starts = torch.arange(0, len(ids) - window, stride)
    offsets = torch.arange(window)[None, :]
    x = ids[starts[:, None] + offsets]
    if every_step:
        return Split(x, ids[starts[:, None] + offsets + 1])
    return Split(x, ids[starts + window])


def load_text(options: dict[str, Any], input_kind: str, input_shape: tuple[int, ...],
              seed: int, name: str = "text") -> DataBundle:
    """Next-character prediction over a text for a "tokens" (T,) Input.

    options: ``path`` (UTF-8 text file; default: the stdlib-docstring corpus), ``stride``
    (characters between window starts; default keeps at most ~60k training windows),
    ``targets``: "next" (y is the character after the window, for a model ending in the last
    time step) or "sequence" (y[t] is the character after x[t], for a model that predicts at
    every step; default stride then T, so each character is a target once per epoch).
    Chronological 90/5/5 split; ``seed`` is unused.
    """
    if input_kind != "tokens" or len(input_shape) != 1:
        raise DataError(f"{name} gives character ids; set the Input node to kind 'tokens' with "
                        "shape T (the number of characters the model reads, e.g. 64)")
    window = input_shape[0]
    raw_path = option(options, "path", None, str, name)
    if raw_path:
        path = Path(os.path.expanduser(raw_path))
        text = read_text_file(path, name)
        source = f"text file {path}"
        where = str(path)
    else:
        text = stdlib_corpus()
        source = "Python standard library docstrings (built-in corpus)"
        where = "the built-in corpus"
    if not text.strip():
        raise DataError(f"dataset '{name}': {where} is empty; choose a text file with content")

    vocab = sorted(set(text))
    ids = encode(text, vocab)
    n = len(ids)
    n_train = int(n * TRAIN_FRACTION)
    n_val = int(n * VAL_FRACTION)
    parts = {"train": ids[:n_train], "val": ids[n_train:n_train + n_val],
             "test": ids[n_train + n_val:]}
    for split_name, part in parts.items():
        if len(part) <= window:
            raise DataError(f"dataset '{name}': {where} has {n:,} characters, so its "
                            f"{split_name} part ({len(part):,}) is shorter than one window of "
                            f"T={window} + 1; use a longer text or a smaller T")

    targets = option(options, "targets", "next", str, name)
    if targets not in ("next", "sequence"):
        raise DataError(f"dataset '{name}': option 'targets' must be 'next' or 'sequence', "
                        f"got {targets!r}")
    every_step = targets == "sequence"
    default_stride = window if every_step else \
        max(1, math.ceil((n_train - window) / MAX_TRAIN_WINDOWS))
    stride = option(options, "stride", default_stride, int, name)
    if stride < 1:
        raise DataError(f"dataset '{name}': option 'stride' must be at least 1")
    splits = {k: _windows(v, window, stride, every_step) for k, v in parts.items()}
    return DataBundle(
        name=name, task="language_model",
        train=splits["train"], val=splits["val"], test=splits["test"],
        sample_shape=(window,), target_shape=(window,) if every_step else (),
        num_classes=len(vocab), class_names=list(vocab),
        normalization={"kind": "text", "vocab": "".join(vocab)},
        source=f"{source} ({n:,} characters, {len(vocab)} distinct, stride {stride})",
    )
