"""Which catalogue layer each ONNX op becomes (the ONNX importer's mapping table).

Each converter reads one ONNX node through :class:`Op` and plans one layer (sometimes a short
chain: a Slice over two axes is two Slice layers) with ``imp.add``; it raises ``op.fail(why)``
when this use of the op has no LayerForge layer. The importer then checks the planned layer's
shape rule against the shapes ONNX inferred, so a converter that misreads an op leaves it to
onnxruntime (an Opaque node) rather than build a wrong graph. Both the attribute forms of
older opsets and the input forms of newer ones are read, so a file the version converter
could not bring to ``TARGET_OPSET`` still maps.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from backend.errors import ImportModelError
from graph.layers.pool import pool_out
from graph.shapes import TensorType

TARGET_OPSET = 18  # older files are converted to this opset before mapping
INT64_MAX = 2 ** 63 - 1


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Op:
    """One ONNX node as the converters read it: attributes, constant inputs, the first input
    computed from the model's inputs (``x``) and its per-sample type (``t``). ``imp`` is the
    ``onnx_file.OnnxImporter`` driving the conversion (not imported here: that would be a
    circle)."""

    def __init__(self, imp: Any, node, attrs: dict[str, Any], opset: int) -> None:
        self.imp, self.node, self.a, self.opset = imp, node, attrs, opset
        self.type = node.op_type
        self.inputs = list(node.input)
        self.dynamic = [i for i in self.inputs if i and imp.is_dynamic(i)]
        if not self.dynamic:
            raise self.fail("its input does not come from the model's input")
        self.x = self.dynamic[0]
        self.t = imp.out_type(self.x)

    def fail(self, why: str) -> ImportModelError:
        return self.imp.fail(self.node, why)

    def const(self, index: int) -> torch.Tensor | None:
        """The value of input ``index`` when it is stored in the file (None when absent)."""
        if index >= len(self.inputs) or not self.inputs[index]:
            return None
        return self.imp.weights.get(self.inputs[index])

    def given(self, index: int) -> bool:
        return index < len(self.inputs) and bool(self.inputs[index])

    def need_const(self, index: int, what: str) -> torch.Tensor:
        value = self.const(index)
        if value is None:
            raise self.fail(f"its {what} are computed by the network, not stored in the file")
        return value

    def ints(self, index: int, attr: str, what: str) -> list[int] | None:
        """Integers given as attribute ``attr`` (older opsets) or constant input ``index``."""
        if attr in self.a:
            return [int(v) for v in self.a[attr]]
        if not self.given(index):
            return None
        return [int(v) for v in self.need_const(index, what).reshape(-1).tolist()]

    def out(self, k: int = 0) -> TensorType:
        return self.imp.out_type(self.node.output[k])

    def spatial(self) -> int:
        return self.t.rank - 2

    def axis(self, value: int) -> int:
        """``value`` as a positive axis of x (batch = 0); the batch itself is refused."""
        rank = self.t.rank
        if not -rank <= value < rank:
            raise self.fail(f"axis {value} does not exist in {self.t}")
        if value % rank == 0:
            raise self.fail("it works across the batch (axis 0)")
        return value % rank

    def one(self, values, what: str):
        """Per-axis values that LayerForge keeps as one number must all be equal."""
        if len(set(values)) != 1:
            raise self.fail(f"its {what} differ between axes ({list(values)})")
        return values[0]


def _axes_param(values: list[int], n: int):
    """Catalogue form of per-axis values: one int for 1-D layers, a tuple otherwise."""
    return int(values[0]) if n == 1 else tuple(int(v) for v in values)


def _pads(op: Op, kernel: list[int], strides: list[int], dilations: list[int]) -> tuple:
    """(begin, end) padding per spatial axis, working out auto_pad from the input size."""
    n = len(kernel)
    auto = _text(op.a.get("auto_pad", "NOTSET"))
    if auto in ("NOTSET", ""):
        pads = list(op.a.get("pads", [0] * 2 * n))
        if len(pads) != 2 * n or any(p < 0 for p in pads):
            raise op.fail(f"its pads {pads} do not fit {n} axes")
        return pads[:n], pads[n:]
    if auto == "VALID":
        return [0] * n, [0] * n
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise op.fail(f"auto_pad {auto} is unknown")
    begin, end = [], []
    for size, k, s, d in zip(op.t.dims[1:], kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begin.append(small if auto == "SAME_UPPER" else total - small)
        end.append(total - small if auto == "SAME_UPPER" else small)
    return begin, end


# ---- convolutions ----------------------------------------------------------------------------

def _conv(op: Op) -> None:
    w = op.need_const(1, "weights")
    n = w.dim() - 2
    if n not in (1, 2, 3) or op.t.rank != n + 2:
        raise op.fail(f"a {w.dim()}-D weight on {op.t} is not a 1-D, 2-D or 3-D convolution")
    k = list(w.shape[2:])
    strides = list(op.a.get("strides", [1] * n))
    dil = list(op.a.get("dilations", [1] * n))
    if list(op.a.get("kernel_shape", k)) != k or len(strides) != n or len(dil) != n:
        raise op.fail("its kernel_shape, strides or dilations do not fit its weights")
    begin, end = _pads(op, k, strides, dil)
    if begin != end:
        raise op.fail(f"its padding is not the same on both sides ({begin} before, {end} "
                      f"after)")
    group = int(op.a.get("group", 1))
    channels = op.t.dims[0]
    if group < 1 or w.shape[1] * group != channels or w.shape[0] % group:
        raise op.fail(f"its weights {tuple(w.shape)} and group {group} do not fit "
                      f"{channels} input channels")
    weights = _filter_weights(op, w, filters=w.shape[0])
    op.imp.add(f"Conv{n}d", {
        "out_channels": w.shape[0], "kernel_size": _axes_param(k, n),
        "stride": _axes_param(strides, n), "padding": _axes_param(begin, n),
        "dilation": op.one(dil, "dilations"), "groups": group, "bias": "bias" in weights},
        [op.x], weights)


def _conv_transpose(op: Op) -> None:
    w = op.need_const(1, "weights")
    n = w.dim() - 2
    if n not in (1, 2, 3) or op.t.rank != n + 2:
        raise op.fail(f"a {w.dim()}-D weight on {op.t} is not a 1-D, 2-D or 3-D convolution")
    if int(op.a.get("group", 1)) != 1:
        raise op.fail("grouped transposed convolutions have no LayerForge layer")
    if "output_shape" in op.a or _text(op.a.get("auto_pad", "NOTSET")) not in ("NOTSET", ""):
        raise op.fail("its output size is given instead of its padding")
    k = list(w.shape[2:])
    strides = list(op.a.get("strides", [1] * n))
    dil = list(op.a.get("dilations", [1] * n))
    extra = list(op.a.get("output_padding", [0] * n))
    pads = list(op.a.get("pads", [0] * 2 * n))
    if list(op.a.get("kernel_shape", k)) != k or len(strides) != n or len(dil) != n or \
            len(extra) != n or len(pads) != 2 * n:
        raise op.fail("its kernel_shape, strides, pads or dilations do not fit its weights")
    if pads[:n] != pads[n:]:
        raise op.fail("its padding is not the same on both sides")
    if w.shape[0] != op.t.dims[0]:
        raise op.fail(f"its weights {tuple(w.shape)} do not fit {op.t.dims[0]} input channels")
    weights = _filter_weights(op, w, filters=w.shape[1])
    op.imp.add(f"ConvTranspose{n}d", {
        "out_channels": w.shape[1], "kernel_size": _axes_param(k, n),
        "stride": _axes_param(strides, n), "padding": _axes_param(pads[:n], n),
        "output_padding": _axes_param(extra, n), "dilation": op.one(dil, "dilations"),
        "bias": "bias" in weights}, [op.x], weights)


# ---- pooling ---------------------------------------------------------------------------------

def _pool(op: Op) -> None:
    k = [int(v) for v in op.a.get("kernel_shape", [])]
    n = len(k)
    if n not in (1, 2, 3) or op.t.rank != n + 2:
        raise op.fail(f"a {n}-D window on {op.t} is not a 1-D, 2-D or 3-D pooling")
    if len(op.node.output) > 1 and op.node.output[1]:
        raise op.fail("the positions of the maxima are used")
    strides = list(op.a.get("strides", [1] * n))
    dil = list(op.a.get("dilations", [1] * n))
    if len(strides) != n or dil != [1] * n or min(strides) < 1:
        raise op.fail("dilated pooling has no LayerForge layer")
    begin, end = _pads(op, k, strides, dil)
    want = op.out().dims[1:]
    avg = op.type == "AveragePool"
    include_pad = int(op.a.get("count_include_pad", 0))
    for ceil in (bool(op.a.get("ceil_mode", 0)), not op.a.get("ceil_mode", 0)):
        # the same windows as ONNX's (explicit end padding is often ceil_mode in disguise)
        if all(pool_out(size, ki, si, pi, ceil) == o for size, ki, si, pi, o in
               zip(op.t.dims[1:], k, strides, begin, want)):
            break
    else:
        raise op.fail(f"its padding {begin}/{end} gives windows no LayerForge pooling gives")
    if avg and not ((begin == end and (include_pad or not any(begin))) or
                    (not any(begin) and not include_pad)):
        raise op.fail("it averages over padding in a way no LayerForge pooling does")
    stride = [0] * n if strides == k else strides  # 0: the window size
    op.imp.add(f"{'AvgPool' if avg else 'MaxPool'}{n}d", {
        "kernel_size": _axes_param(k, n), "stride": _axes_param(stride, n),
        "padding": _axes_param(begin, n), "ceil_mode": ceil}, [op.x])


def _global_pool(op: Op) -> None:
    n = op.spatial()
    kind = "Avg" if op.type == "GlobalAveragePool" else "Max"
    if n not in (1, 2, 3) or (kind == "Max" and n == 3):
        raise op.fail(f"no LayerForge layer pools {op.t} this way")
    op.imp.add(f"Adaptive{kind}Pool{n}d", {"output_size": _axes_param([1] * n, n)}, [op.x])


def _reduce(op: Op) -> None:
    axes = op.ints(1, "axes", "axes")
    keep = bool(op.a.get("keepdims", 1))
    if not axes:
        if op.a.get("noop_with_empty_axes", 0):
            return op.imp.add("Identity", {}, [op.x])
        raise op.fail("it reduces every axis, the batch included")
    axes = sorted({op.axis(v) for v in axes})
    if op.type == "ReduceMean" and op.t.rank == 4 and axes == [2, 3]:
        if keep:
            return op.imp.add("AdaptiveAvgPool2d", {"output_size": (1, 1)}, [op.x])
        return op.imp.add("GlobalAvgPool", {}, [op.x])
    layer = {"ReduceMean": "Mean", "ReduceSum": "Sum", "ReduceMax": "Max"}[op.type]
    op.imp.add(layer, {"dim": tuple(axes), "keepdim": keep}, [op.x])


# ---- normalisation ---------------------------------------------------------------------------

def _batch_norm(op: Op) -> None:
    if any(op.node.output[1:]) or op.a.get("training_mode", 0):
        raise op.fail("it is in training mode")
    if not op.a.get("spatial", 1):
        raise op.fail("per-position statistics (spatial=0) have no LayerForge layer")
    values = [op.need_const(i, "statistics") for i in range(1, 5)]
    channels = op.t.dims[0]
    if any(tuple(v.shape) != (channels,) for v in values):
        raise op.fail(f"its statistics do not have one value per channel ({channels})")
    layer = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}.get(
        op.t.rank)
    if layer is None:
        raise op.fail(f"no LayerForge batch norm takes {op.t}")
    momentum = min(max(1.0 - float(op.a.get("momentum", 0.9)), 0.0), 1.0)
    scale, bias, mean, var = values
    op.imp.add(layer, {"eps": float(op.a.get("epsilon", 1e-5)), "momentum": momentum}, [op.x],
               {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
                "num_batches_tracked": torch.tensor(0)})


def _instance_norm(op: Op) -> None:
    scale, bias = op.need_const(1, "scales"), op.need_const(2, "biases")
    layer = {3: "InstanceNorm1d", 4: "InstanceNorm2d"}.get(op.t.rank)
    if layer is None or tuple(scale.shape) != (op.t.dims[0],) or scale.shape != bias.shape:
        raise op.fail(f"no LayerForge instance norm takes {op.t} with these scales")
    op.imp.add(layer, {"eps": float(op.a.get("epsilon", 1e-5)), "affine": True}, [op.x],
               {"weight": scale, "bias": bias})


def _layer_norm(op: Op) -> None:
    if any(op.node.output[1:]):
        raise op.fail("its mean or variance outputs are used")
    axis = op.axis(int(op.a.get("axis", -1)))
    shape = tuple(op.t.dims[axis - 1:])
    scale = op.need_const(1, "scales")
    bias = op.need_const(2, "biases") if op.given(2) else torch.zeros(shape)
    if tuple(scale.shape) != shape or tuple(bias.shape) != shape:
        raise op.fail(f"its scales {tuple(scale.shape)} do not fit the normalized axes {shape}")
    op.imp.add("LayerNorm", {"dims": len(shape), "eps": float(op.a.get("epsilon", 1e-5)),
                             "elementwise_affine": True}, [op.x],
               {"weight": scale, "bias": bias})


def _lrn(op: Op) -> None:
    size = int(op.a.get("size", 0))
    if size < 1 or size % 2 == 0:
        raise op.fail(f"an even window ({size}) is centred differently by torch")
    op.imp.add("LocalResponseNorm", {"size": size, "alpha": float(op.a.get("alpha", 1e-4)),
                                     "beta": float(op.a.get("beta", 0.75)),
                                     "k": float(op.a.get("bias", 1.0))}, [op.x])


# ---- dense -----------------------------------------------------------------------------------

def _gemm(op: Op) -> None:
    if op.a.get("transA", 0) or op.inputs[0] != op.x:
        raise op.fail("only x @ W^T + b (a Linear layer) is mapped")
    w = op.need_const(1, "weights")
    if w.dim() != 2:
        raise op.fail(f"its weight {tuple(w.shape)} is not a matrix")
    weight = (w if op.a.get("transB", 0) else w.t()) * float(op.a.get("alpha", 1.0))
    weights = {"weight": weight.contiguous()}
    out = weight.shape[0]
    if op.given(2):
        c = op.need_const(2, "biases") * float(op.a.get("beta", 1.0))
        if c.numel() not in (1, out) or (c.dim() and c.shape[-1] not in (1, out)):
            raise op.fail(f"its bias {tuple(c.shape)} is not one value per output")
        weights["bias"] = c.reshape(-1).expand(out).clone()
    op.imp.add("Linear", {"out_features": out, "bias": "bias" in weights}, [op.x], weights)


def _matmul(op: Op) -> None:
    w = op.const(1)
    if w is None:
        if len(op.dynamic) == 2 and op.inputs[0] == op.dynamic[0]:
            return op.imp.add("MatMul", {}, op.dynamic)
        raise op.fail("only x @ W and products of two computed matrices are mapped")
    if w.dim() != 2 or op.inputs[0] != op.x:
        raise op.fail(f"its weight {tuple(w.shape)} is not a matrix on the right")
    weights = {"weight": w.t().contiguous()}
    users = op.imp.consumers.get(op.node.output[0], [])
    if len(users) == 1 and users[0].op_type == "Add" and len(users[0].input) == 2:
        other = [i for i in users[0].input if i != op.node.output[0]]
        bias = op.imp.weights.get(other[0]) if len(other) == 1 else None
        if bias is not None and bias.numel() == w.shape[1] and bias.dim() >= 1 and \
                bias.shape[-1] == w.shape[1] and bias.is_floating_point():
            weights["bias"] = bias.reshape(-1)
            op.imp.absorb(users[0])  # the Add's result is the Linear's output
    op.imp.add("Linear", {"out_features": w.shape[1], "bias": "bias" in weights}, [op.x],
               weights)


def _gather(op: Op) -> None:
    table = op.const(0)
    if table is None or table.dim() != 2 or int(op.a.get("axis", 0)) != 0 or \
            op.t.dtype != "long" or op.inputs[1] != op.x or not table.is_floating_point():
        raise op.fail("only a lookup in a stored table (an embedding) is mapped")
    op.imp.add("Embedding", {"num_embeddings": table.shape[0], "embedding_dim": table.shape[1]},
               [op.x], {"weight": table})


# ---- activations -----------------------------------------------------------------------------

def _fixed(layer: str, **params: Any) -> Callable[[Op], None]:
    def convert(op: Op) -> None:
        op.imp.add(layer, dict(params), [op.x])
    return convert


def _with_attrs(layer: str, **names: tuple[str, float]) -> Callable[[Op], None]:
    """A layer whose parameters are ONNX attributes: param=(attribute, ONNX default)."""
    def convert(op: Op) -> None:
        op.imp.add(layer, {p: float(op.a.get(attr, default))
                           for p, (attr, default) in names.items()}, [op.x])
    return convert


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _selu(op: Op) -> None:
    if not (_close(float(op.a.get("alpha", 1.6732632423543772)), 1.6732632423543772) and
            _close(float(op.a.get("gamma", 1.0507009873554805)), 1.0507009873554805)):
        raise op.fail("only SELU's standard constants are mapped")
    op.imp.add("SELU", {}, [op.x])


def _hard_sigmoid(op: Op) -> None:
    if not (_close(float(op.a.get("alpha", 0.2)), 1 / 6) and
            _close(float(op.a.get("beta", 0.5)), 0.5)):
        raise op.fail("only torch's hard sigmoid (alpha 1/6, beta 0.5) is mapped")
    op.imp.add("Hardsigmoid", {}, [op.x])


def _softplus(op: Op) -> None:
    op.imp.add("Softplus", {"beta": 1.0, "threshold": 20.0}, [op.x])


def _gelu(op: Op) -> None:
    op.imp.add("GELU", {"approximate": _text(op.a.get("approximate", "none"))}, [op.x])


def _prelu(op: Op) -> None:
    slope = op.need_const(1, "slopes")
    channels = op.t.dims[0] if op.t.dims else 0
    if slope.numel() == 1:
        mode = "shared"
    elif slope.numel() == channels and slope.dim() <= op.t.rank - 1 and \
            slope.shape[0] == channels and (slope.dim() == 1 or op.t.rank > 2) and \
            all(d == 1 for d in slope.shape[1:]) and slope.dim() == op.t.rank - 1:
        mode = "per channel"
    else:
        raise op.fail(f"its slopes {tuple(slope.shape)} are neither one nor one per channel")
    op.imp.add("PReLU", {"num_parameters": mode}, [op.x], {"weight": slope.reshape(-1)})


def _clip(op: Op) -> None:
    low, high = op.a.get("min"), op.a.get("max")
    if op.opset >= 11 or low is None and high is None:
        low = op.const(1) if op.given(1) else None
        high = op.const(2) if op.given(2) else None
        if (op.given(1) and low is None) or (op.given(2) and high is None):
            raise op.fail("its limits are computed by the network")
        low = None if low is None else float(low.reshape(-1)[0])
        high = None if high is None else float(high.reshape(-1)[0])
    low = None if low is None or low <= -3.4e38 else float(low)
    high = None if high is None or high >= 3.4e38 else float(high)
    if low == 0.0 and high == 6.0:
        return op.imp.add("ReLU6", {}, [op.x])
    if low == 0.0 and high is None:
        return op.imp.add("ReLU", {}, [op.x])
    if low is None or high is None:
        raise op.fail("a clip open on one side (other than at 0) has no LayerForge layer")
    op.imp.add("Hardtanh", {"min_val": low, "max_val": high}, [op.x])


def _softmax(op: Op) -> None:
    axis = op.axis(int(op.a.get("axis", -1 if op.opset >= 13 else 1)))
    if op.opset < 13 and axis != op.t.rank - 1:
        raise op.fail("before opset 13 Softmax over a middle axis flattens the rest")
    op.imp.add(op.type, {"dim": axis}, [op.x])


def _dropout(op: Op) -> None:
    ratio = op.const(1)
    p = float(ratio) if ratio is not None and ratio.numel() == 1 else \
        float(op.a.get("ratio", 0.5))
    op.imp.add("Dropout", {"p": min(max(p, 0.0), 1.0)}, [op.x])


# ---- elementwise arithmetic ------------------------------------------------------------------

_MERGE = {"Add": "Add", "Mul": "Multiply", "Sub": "Subtract", "Div": "Divide",
          "Max": "Maximum", "Min": "Minimum", "Sum": "Add", "Mean": "Average"}


def _arithmetic(op: Op) -> None:
    ins = [i for i in op.inputs if i]
    if len(op.dynamic) == len(ins) and len(ins) >= 2:
        types = [op.imp.out_type(i) for i in ins]
        if all(t == types[0] for t in types):
            if len(ins) == 1 or (op.type in ("Sub", "Div") and len(ins) != 2):
                raise op.fail("it has an unusual number of inputs")
            params = {} if op.type in ("Sub", "Div") else {"inputs": len(ins)}
            return op.imp.add(_MERGE[op.type], params, ins)
        if op.type == "Mul" and len(ins) == 2:
            big, small = (ins if types[0].numel >= types[1].numel else ins[::-1])
            return op.imp.add("BroadcastMultiply", {}, [big, small])
        raise op.fail(f"its inputs have different shapes ({', '.join(map(str, types))})")
    if len(ins) != 2 or len(op.dynamic) != 1:
        raise op.fail("it mixes computed and stored values in a way no layer does")
    c = op.imp.weights.get(ins[1] if ins[0] == op.x else ins[0])
    if c is None or c.numel() != 1 or c.dim() > op.t.rank or not c.is_floating_point():
        raise op.fail("only a single stored number (a scale or shift) is mapped")
    value, first = float(c.reshape(-1)[0]), ins[0] == op.x
    if op.type == "Add":
        params = {"shift": value}
    elif op.type == "Mul":
        params = {"scale": value}
    elif op.type == "Sub":
        params = {"shift": -value} if first else {"scale": -1.0, "shift": value}
    elif op.type == "Div" and first and value != 0.0:
        params = {"scale": 1.0 / value}
    elif op.type == "Max" and value == 0.0:
        return op.imp.add("ReLU", {}, [op.x])
    else:
        raise op.fail("this use of a stored number has no LayerForge layer")
    op.imp.add("Scale", params, [op.x])


def _neg(op: Op) -> None:
    op.imp.add("Scale", {"scale": -1.0}, [op.x])


# ---- shapes ----------------------------------------------------------------------------------

def _concat(op: Op) -> None:
    ins = [i for i in op.inputs if i]
    if len(op.dynamic) != len(ins):
        raise op.fail("it joins a stored tensor to computed ones")
    if len(ins) == 1:
        return op.imp.add("Identity", {}, ins)
    if len(ins) > 8:
        raise op.fail(f"it joins {len(ins)} tensors (a Concat takes at most 8)")
    op.imp.add("Concat", {"inputs": len(ins), "dim": op.axis(int(op.a.get("axis", 0)))}, ins)


def _reshape(op: Op) -> None:
    out = op.out()
    if op.type == "Flatten" and op.axis(int(op.a.get("axis", 1))) != 1:
        return op.imp.add("Reshape", {"shape": out.dims}, [op.x])
    if len(out.dims) == 1 and op.t.rank > 2:
        return op.imp.add("Flatten", {"start_dim": 1, "end_dim": -1}, [op.x])
    op.imp.add("Reshape", {"shape": out.dims}, [op.x])


def _squeeze(op: Op) -> None:
    axes = op.ints(1, "axes", "axes")
    if axes is None:
        axes = [i + 1 for i, d in enumerate(op.t.dims) if d == 1]
    axes = sorted({op.axis(v) for v in axes})
    if len(axes) == 1:
        return op.imp.add("Squeeze", {"dim": axes[0]}, [op.x])
    op.imp.add("Reshape", {"shape": op.out().dims}, [op.x])


def _unsqueeze(op: Op) -> None:
    axes = op.ints(1, "axes", "axes") or []
    rank = op.t.rank + len(axes)
    if len(axes) == 1 and -rank <= axes[0] < rank and axes[0] % rank:
        return op.imp.add("Unsqueeze", {"dim": axes[0] % rank}, [op.x])
    if any(not -rank <= v < rank or v % rank == 0 for v in axes):
        raise op.fail(f"axes {axes} insert a batch axis or do not exist")
    op.imp.add("Reshape", {"shape": op.out().dims}, [op.x])


def _transpose(op: Op) -> None:
    perm = [int(v) for v in op.a.get("perm", range(op.t.rank - 1, -1, -1))]
    if sorted(perm) != list(range(op.t.rank)) or perm[0] != 0:
        raise op.fail(f"perm {perm} moves the batch axis or is not a permutation")
    moved = [i for i, p in enumerate(perm) if p != i]
    if len(moved) == 2:
        return op.imp.add("Transpose", {"dim0": moved[0], "dim1": moved[1]}, [op.x])
    if not moved:
        return op.imp.add("Identity", {}, [op.x])
    op.imp.add("Permute", {"dims": tuple(perm)}, [op.x])


def _split(op: Op) -> None:
    axis = op.axis(int(op.a.get("axis", 0)))
    size = op.t.dims[axis - 1]
    outs = len(op.node.output)
    sizes = op.ints(1, "split", "sizes")
    if sizes is None:
        count = int(op.a.get("num_outputs", outs))
        piece = -(-size // max(count, 1))
        sizes = [min(piece, size - piece * i) for i in range(count)]
    if len(sizes) != outs or sum(sizes) != size or min(sizes) < 1:
        raise op.fail(f"sizes {sizes} do not cut axis {axis} ({size}) into {outs} pieces")
    if outs == 1:
        return op.imp.add("Identity", {}, [op.x])
    if outs > 16:
        raise op.fail(f"it makes {outs} pieces (a Split makes at most 16)")
    op.imp.add("Split", {"dim": axis, "sizes": tuple(sizes)}, [op.x])


def _slice(op: Op) -> None:
    starts = op.ints(1, "starts", "starts")
    ends = op.ints(2, "ends", "ends")
    if starts is None or ends is None or len(starts) != len(ends):
        raise op.fail("its starts and ends do not match")
    axes = op.ints(3, "axes", "axes") or list(range(len(starts)))
    steps = op.ints(4, "steps", "steps") or [1] * len(starts)
    if len(axes) != len(starts) or len(steps) != len(starts) or len(set(axes)) != len(axes):
        raise op.fail("its axes and steps do not match its starts")
    source = op.x
    cuts = [(op.axis(a), s, e, st) for a, s, e, st in zip(axes, starts, ends, steps)]
    for axis, start, end, step in cuts:
        size = op.t.dims[axis - 1]
        if step < 1:
            raise op.fail("backwards slices have no LayerForge layer")
        start = min(max(start + size if start < 0 else start, 0), size)
        end = min(max(end + size if end < 0 else end, 0), size)
        if start == 0 and end == size and step == 1:
            continue
        if start >= end:
            raise op.fail("it keeps nothing")
        source = op.imp.add("Slice", {"dim": axis, "start": start,
                                      "end": 0 if end == size else end, "step": step},
                            [source])
    if source == op.x:
        op.imp.add("Identity", {}, [op.x])


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
              "wrap": "circular"}


def _pad(op: Op) -> None:
    mode = _text(op.a.get("mode", "constant"))
    if mode not in _PAD_MODES:
        raise op.fail(f"pad mode {mode} has no LayerForge layer")
    pads = op.ints(1, "pads", "pads")
    rank = op.t.rank
    axes = op.ints(3, "", "axes") if op.opset >= 18 else None
    axes = [v % rank for v in axes] if axes else list(range(rank))
    if pads is None or len(pads) != 2 * len(axes) or any(p < 0 for p in pads):
        raise op.fail(f"its pads {pads} are not two non-negative numbers per axis")
    full = [[0, 0] for _ in range(rank)]
    for i, axis in enumerate(axes):
        full[axis] = [pads[i], pads[i + len(axes)]]
    if full[0] != [0, 0]:
        raise op.fail("it pads the batch")
    value = 0.0
    if op.given(2):
        value = float(op.need_const(2, "pad value").reshape(-1)[0])
    elif "value" in op.a:
        value = float(op.a["value"])
    padded = [i for i in range(1, rank) if full[i] != [0, 0]]
    if not padded:
        return op.imp.add("Identity", {}, [op.x])
    first = padded[0] if mode == "constant" else min(padded[0], 2)
    torch_pads = tuple(v for axis in range(rank - 1, first - 1, -1) for v in full[axis])
    layer_mode = "zeros" if mode == "constant" and value == 0.0 else _PAD_MODES[mode]
    op.imp.add("Pad", {"mode": layer_mode, "padding": torch_pads, "value": value}, [op.x])


def _resize(op: Op) -> None:
    n = op.spatial()
    out = op.out()
    if n < 1 or out.dims[0] != op.t.dims[0]:
        raise op.fail("it resizes the channels or the batch")
    a = {k: _text(v) if isinstance(v, bytes) else v for k, v in op.a.items()}
    mode = a.get("mode", "nearest")
    coords = a.get("coordinate_transformation_mode", "half_pixel" if op.type == "Resize"
                   else "asymmetric")
    if int(a.get("antialias", 0)) or int(a.get("exclude_outside", 0)) or \
            a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise op.fail("antialiasing or aspect-ratio policies have no LayerForge layer")
    align = False
    ratios = {o / i if i else 0 for o, i in zip(out.dims[1:], op.t.dims[1:])}
    factor = next(iter(ratios))
    whole = len(ratios) == 1 and float(factor).is_integer() and factor >= 1
    scales = op.const(2 if op.type == "Resize" else 1)
    scales = op.a.get("scales") if scales is None else scales.reshape(-1).tolist()
    if not whole and scales and len(scales) == op.t.rank and any(
            abs(sc - o / i) > 1e-6 for sc, o, i in zip(scales[2:], out.dims[1:], op.t.dims[1:])):
        raise op.fail("a scale that does not give a whole size maps pixels unlike torch")
    if mode == "nearest":
        rounding = a.get("nearest_mode", "floor" if op.type == "Upsample"
                         else "round_prefer_floor")
        # torch's nearest is floor(out * in / size); half-pixel rounding picks the same
        # pixels when the size grows by a whole factor
        if not ((coords == "asymmetric" and rounding == "floor") or
                (whole and coords in ("half_pixel", "pytorch_half_pixel") and
                 rounding.startswith("round"))):
            raise op.fail(f"nearest with {coords}/{rounding} rounding is not torch's nearest")
        layer_mode = "nearest"
    elif mode in ("linear", "bilinear", "cubic", "bicubic"):
        if coords == "align_corners":
            align = True
        elif coords not in ("half_pixel", "pytorch_half_pixel"):
            raise op.fail(f"{mode} with {coords} coordinates is not torch's interpolation")
        if mode.endswith("cubic") and not _close(float(a.get("cubic_coeff_a", -0.75)), -0.75):
            raise op.fail("a cubic coefficient other than torch's -0.75")
        linear = mode in ("linear", "bilinear")
        layer_mode = {1: "linear", 2: "bilinear"}.get(n, "") if linear else \
            ("bicubic" if n == 2 else "")
        if not layer_mode:
            raise op.fail(f"{mode} interpolation of {op.t} has no LayerForge layer")
    else:
        raise op.fail(f"mode {mode} has no LayerForge layer")
    if whole and not align and \
            layer_mode in ("nearest", "bilinear", "linear"):
        return op.imp.add("Upsample", {"scale_factor": int(factor), "mode": layer_mode}, [op.x])
    if layer_mode == "linear":
        raise op.fail("linear resizing of a sequence to a size has no LayerForge layer")
    op.imp.add("Resize", {"size": tuple(out.dims[1:]), "mode": layer_mode,
                          "align_corners": align}, [op.x])


def _depth_to_space(op: Op) -> None:
    if _text(op.a.get("mode", "DCR")) != "CRD":
        raise op.fail("only the CRD ordering (torch's pixel shuffle) is mapped")
    op.imp.add("PixelShuffle", {"upscale_factor": int(op.a.get("blocksize", 1))}, [op.x])


CONVERTERS: dict[str, Callable[[Op], None]] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose,
    "MaxPool": _pool, "AveragePool": _pool,
    "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool,
    "ReduceMean": _reduce, "ReduceSum": _reduce, "ReduceMax": _reduce,
    "BatchNormalization": _batch_norm, "InstanceNormalization": _instance_norm,
    "LayerNormalization": _layer_norm, "LRN": _lrn,
    "Gemm": _gemm, "MatMul": _matmul, "Gather": _gather,
    "Relu": _fixed("ReLU"), "Sigmoid": _fixed("Sigmoid"), "Tanh": _fixed("Tanh"),
    "Identity": _fixed("Identity"), "HardSwish": _fixed("Hardswish"), "Mish": _fixed("Mish"),
    "Softsign": _fixed("Softsign"), "Softplus": _softplus, "Selu": _selu,
    "HardSigmoid": _hard_sigmoid, "Gelu": _gelu, "PRelu": _prelu, "Clip": _clip,
    "LeakyRelu": _with_attrs("LeakyReLU", negative_slope=("alpha", 0.01)),
    "Elu": _with_attrs("ELU", alpha=("alpha", 1.0)),
    "Celu": _with_attrs("CELU", alpha=("alpha", 1.0)),
    "Softmax": _softmax, "LogSoftmax": _softmax, "Dropout": _dropout,
    **{name: _arithmetic for name in _MERGE}, "Neg": _neg,
    "Concat": _concat, "Flatten": _reshape, "Reshape": _reshape, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "Transpose": _transpose, "Split": _split, "Slice": _slice,
    "Pad": _pad, "Resize": _resize, "Upsample": _resize, "DepthToSpace": _depth_to_space,
}

SUPPORTED = tuple(sorted(CONVERTERS))


def _filter_weights(op: Op, w: torch.Tensor, filters: int) -> dict[str, torch.Tensor]:
    """A convolution's weight and, when given (input 2), its bias: one per filter."""
    weights = {"weight": w}
    if op.given(2):
        bias = op.need_const(2, "biases")
        if tuple(bias.shape) != (filters,):
            raise op.fail(f"its bias {tuple(bias.shape)} does not fit {filters} filters")
        weights["bias"] = bias
    return weights


def convert(imp: Any, node, attrs: dict[str, Any], opset: int) -> None:
    """Plan the layer(s) for ``node``, or raise ImportModelError when it has none."""
    converter = CONVERTERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if converter is None:
        raise imp.fail(node, "no LayerForge layer does this")
    op = Op(imp, node, attrs, opset)
    if op.t.dtype != "float" and node.op_type != "Gather":
        raise op.fail("it works on integers")
    converter(op)
