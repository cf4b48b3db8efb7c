"""Imports torchvision's classification models (one per family, random weights) with the
torch.fx importer and prints one JSON line per model: nodes (layers of the flat network,
block insides counted per instance), blocks (Block instances), opaque (Opaque nodes), max_diff
(largest difference from the original's outputs on the example input) and import_seconds.

    python -m bench.import_zoo [model ...]      # default: every model of ZOO
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import torch

# (name, per-sample input shape, constructor arguments besides weights=None)
ZOO: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
    ("alexnet", (3, 224, 224), {}),
    ("vgg11_bn", (3, 224, 224), {}),
    ("resnet18", (3, 224, 224), {}),
    ("resnext50_32x4d", (3, 224, 224), {}),
    ("wide_resnet50_2", (3, 224, 224), {}),
    ("squeezenet1_1", (3, 224, 224), {}),
    ("densenet121", (3, 224, 224), {}),
    ("inception_v3", (3, 299, 299), {"aux_logits": True, "init_weights": False}),
    ("googlenet", (3, 224, 224), {"aux_logits": False, "init_weights": False}),
    ("shufflenet_v2_x1_0", (3, 224, 224), {}),
    ("mobilenet_v2", (3, 224, 224), {}),
    ("mobilenet_v3_large", (3, 224, 224), {}),
    ("mnasnet1_0", (3, 224, 224), {}),
    ("efficientnet_b0", (3, 224, 224), {}),
    ("efficientnet_v2_s", (3, 224, 224), {}),
    ("regnet_y_400mf", (3, 224, 224), {}),
    ("convnext_tiny", (3, 224, 224), {}),
    ("vit_b_16", (3, 224, 224), {}),
    ("swin_t", (3, 224, 224), {}),
    ("maxvit_t", (3, 224, 224), {}),
]


def build(name: str) -> torch.nn.Module:
    """The model with random weights (seeded), in eval mode."""
    import torchvision

    kwargs = next(k for n, _, k in ZOO if n == name)
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kwargs).eval()


def input_shape(name: str) -> tuple[int, ...]:
    return next(s for n, s, _ in ZOO if n == name)


def flat_counts(graph) -> dict[str, Any]:
    """Layers of the network with every Block instance expanded (its inner Input/Output
    nodes are ports, not layers), Block instances, and Opaque nodes with their operations."""
    from graph.blocks import walk_nodes

    counts: dict[str, Any] = {"nodes": 0, "blocks": 0, "opaque": 0, "opaque_ops": {}}
    for _, node in walk_nodes(graph):
        if node.block is not None:
            counts["blocks"] += 1
            continue
        counts["nodes"] += 1
        if node.type == "Opaque":
            counts["opaque"] += 1
            op = str(node.params.get("operation", "?"))[:60]
            counts["opaque_ops"][op] = counts["opaque_ops"].get(op, 0) + 1
    return counts


def measure(name: str) -> dict[str, Any]:
    from backend.imports.torch_fx import import_module

    model = build(name)
    start = time.perf_counter()
    result = import_module(model, [input_shape(name)])
    seconds = time.perf_counter() - start
    counts = flat_counts(result.project.graph)
    return {"model": name, "nodes": counts["nodes"], "blocks": counts["blocks"],
            "opaque": counts["opaque"], "max_diff": result.max_abs_diff,
            "import_seconds": round(seconds, 2), "opaque_ops": counts["opaque_ops"]}


def main(argv: list[str]) -> None:
    names = argv or [n for n, _, _ in ZOO]
    for name in names:
        print(json.dumps(measure(name)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
