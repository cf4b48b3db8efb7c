"""Every layer type's shape rule and cost, cross-checked against torch.

For each type in the catalogue (new ones are picked up automatically), hypothesis draws
parameters from its ParamSpecs and input types, builds Input(s) -> layer -> Output, and runs
``analyze``:

- the rule says valid: the compiled module runs on a batch of 2 and returns exactly the
  rule's shape and dtype, with exactly the rule's parameter count (and MACs where torch's
  flop counter sees every multiply-accumulate);
- the rule says invalid (a ShapeError): torch, given the same tensors, fails too, unless the
  case is one of the deliberate refusals in ``REASONS``, each proven by an example below.
"""
from __future__ import annotations

import functools
import operator
from importlib import import_module
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from backend.compile.compiler import compile_graph
from backend.errors import CompileError
from backend.compile.modules import EMITTERS, build_module
from backend.compile.ops import MODULES as OWN_MODULES
from graph.layers import CATALOGUE, LayerSpec, ParamSpec
from graph.model import Edge, Graph, Node
from graph.shapes import TensorType
from graph.validate import Analysis, analyze

BATCH = 2
IO_TYPES = ("Input", "Output")
# Layers whose shapes come from a table or a file, not from small drawn inputs: each is
# cross-checked against torch in its own test module.
CHECKED_ELSEWHERE = {
    "Backbone": "tests/backend/compile/test_transfer.py (every arch's table against torchvision)",
    "ImportedModel": "tests/backend/compile/test_transfer.py (shapes read from TorchScript/checkpoints)",
    "Opaque": "tests/backend/imports/test_importer.py (shapes recorded from the imported model)",
    # its indices must come from a MaxPool2d (no Input kind draws valid ones)
    "MaxUnpool2d": "tests/backend/compile/test_max_unpool.py (fed by MaxPool2d's indices)",
}
LAYER_TYPES = sorted(t for t in CATALOGUE if t not in IO_TYPES and t not in CHECKED_ELSEWHERE)
TORCH_DTYPES = {"float": torch.float32, "long": torch.int64}

# What a source can feed a layer: (per-sample dims, dtype). "volume" has no Input kind of its
# own; it is a vector Input followed by a Reshape (which has no parameters).
KINDS: dict[str, tuple[int, str]] = {
    "tokens": (1, "long"), "vector": (1, "float"), "sequence": (2, "float"),
    "image": (3, "float"), "volume": (4, "float"),
}

# Upper bounds that keep the drawn modules tiny (the lower bound is always the ParamSpec's).
CAPS = {"out_features": 6, "out_channels": 6, "hidden_size": 5, "num_layers": 2,
        "embedding_dim": 6, "num_embeddings": 12, "dim_feedforward": 8, "nhead": 4,
        "inputs": 3, "kernel_size": 4, "stride": 3, "padding": 2, "output_padding": 2,
        "dilation": 2, "groups": 4, "scale_factor": 3, "output_size": 4, "dims": 4}

# Types whose every counted MAC torch's FlopCounterMode also counts (2 flops per MAC).
# Left out: LSTM (its fused CPU kernel is invisible to the counter, which reports 0) and
# TransformerEncoderLayer (the counter misses the attention products when CPU's fused
# attention kernel runs, e.g. with dropout 0).
FLOP_COUNTED = {"Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "RNN", "GRU"}

# Plain tensor ops (module names the backend emits as fx ops) and LayerForge's own modules
# ("ops.*"), written independently in plain torch: (inputs, params, layer) -> output, or a
# tuple with one tensor per output port. ``layer`` is the compiled submodule (None for plain
# ops, or when the case never compiled), for references that need its learned weights. The
# compiled model must give the same values (eval mode).
TORCH_OPS = {
    "add": lambda xs, p, m=None: functools.reduce(operator.add, xs),
    "mul": lambda xs, p, m=None: functools.reduce(operator.mul, xs),
    "cat": lambda xs, p, m=None: torch.cat(xs, p["dim"]),
    # The batch stays its own axis: reshape(-1, ...) would let torch move values between samples.
    "reshape": lambda xs, p, m=None: xs[0].reshape(xs[0].shape[0], *p["shape"]),
    "permute": lambda xs, p, m=None: xs[0].permute(*p["dims"]),
}


# ---- the deliberate list: refused by our rules although torch would run them -----------------

REASONS = {
    "tokens": "token ids into a layer that computes with real numbers (torch runs ReLU, "
              "Sigmoid, Tanh, Add... on the integers): an Embedding must come first",
    "unbatched": "one rank short: torch would read the input as a single unbatched sample, "
                 "taking the batch axis for channels or time steps",
    "linear_rank": "Linear on an image/volume: torch mixes only the last axis; we ask for a "
                   "Flatten",
    "softmax_batch": "Softmax/LogSoftmax over dim 0 normalizes across the samples of a batch",
    "flatten_batch": "Flatten from dim 0 merges the batch into the features",
    "permute_batch": "Permute that moves the batch axis away from the front",
    "concat_batch": "Concat along dim 0 stacks samples, changing the batch size",
    "concat_dtype": "Concat of token ids with real numbers (torch silently promotes the ids "
                    "to floats)",
    "broadcast": "Add/Multiply of different shapes (torch broadcasts, hiding a wiring mistake)",
    "layernorm_batch": "LayerNorm over more dims than a sample has would normalize across the "
                       "batch",
    "upsample_volume": "Upsample of a 5-D volume (torch's 'nearest' runs it; not supported by "
                       "the rule's layouts)",
    "adaptive_extra_dims": "AdaptiveAvgPool2d given more than (N, C, H, W): torch folds the "
                           "extra leading axes into the batch; we ask for an image",
    "empty_output": "torch runs it but returns an empty tensor (an axis of size 0); the rule "
                    "says the output would be empty",
}

# Layers that take a (N, C, ...) input batched but that torch also runs one rank lower.
UNBATCHED_RANK = {"Conv1d": 3, "MaxPool1d": 3, "Conv2d": 4, "ConvTranspose2d": 4,
                  "MaxPool2d": 4, "AvgPool2d": 4, "AdaptiveAvgPool2d": 4, "RNN": 3,
                  "LSTM": 3, "GRU": 3, "TransformerEncoderLayer": 3}
# Layers that pass token ids through as they are (no arithmetic on them).
TOKEN_LAYERS = {"Embedding", "Identity", "Flatten", "Reshape", "Permute", "Concat"}


# The newer families keep their tables in catalogue_refs/ (one module each), merged here.
FAMILY_REFS = [import_module(f"tests.backend.compile.catalogue_refs.{name}") for name in
               ("activation", "norm", "conv", "shape", "arithmetic", "attention", "detection",
                "window")]
for _refs in FAMILY_REFS:
    for _table, _extra in ((TORCH_OPS, _refs.TORCH_OPS), (REASONS, _refs.REASONS),
                           (UNBATCHED_RANK, _refs.UNBATCHED_RANK), (CAPS, _refs.CAPS)):
        assert not _table.keys() & _extra.keys(), f"{_refs.__name__}: declared twice"
        _table.update(_extra)
    TOKEN_LAYERS |= _refs.TOKEN_LAYERS
    FLOP_COUNTED |= _refs.FLOP_COUNTED


def _dim(d: int, rank: int) -> int | None:
    return d % rank if -rank <= d < rank else None


def deliberate_refusal(type_: str, p: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The key in REASONS if this case is one we refuse on purpose, else None."""
    x = ins[0]
    if type_ not in TOKEN_LAYERS and any(t.dtype == "long" for t in ins):
        return "tokens"
    if x.rank == UNBATCHED_RANK.get(type_, -1) - 1:
        return "unbatched"
    if type_ == "Linear" and x.rank > 3:
        return "linear_rank"
    if type_ in ("Softmax", "LogSoftmax") and _dim(p["dim"], x.rank) == 0:
        return "softmax_batch"
    if type_ == "Flatten" and _dim(p["start_dim"], x.rank) == 0:
        return "flatten_batch"
    if type_ == "Permute" and sorted(p["dims"]) == list(range(x.rank)) and p["dims"][0] != 0:
        return "permute_batch"
    if type_ == "Concat" and _dim(p["dim"], x.rank) == 0:
        return "concat_batch"
    if type_ == "Concat" and len({t.dtype for t in ins}) > 1:
        return "concat_dtype"
    if type_ in ("Add", "Multiply") and len({t.dims for t in ins}) > 1:
        return "broadcast"
    if type_ == "LayerNorm" and p["dims"] > len(x.dims):
        return "layernorm_batch"
    if type_ == "Upsample" and p["mode"] == "nearest" and x.rank == 5:
        return "upsample_volume"
    if type_ == "AdaptiveAvgPool2d" and x.rank > 4:
        return "adaptive_extra_dims"
    for refs in FAMILY_REFS:
        reason = refs.refusal(type_, p, ins)
        if reason is not None:
            return reason
    return None


# ---- building and running one case --------------------------------------------------------

def kind_of(t: TensorType) -> str:
    if t.dtype == "long":
        return "tokens"
    return {1: "vector", 2: "sequence", 3: "image", 4: "volume"}[len(t.dims)]


def build_graph(spec: LayerSpec, params: dict[str, Any],
                ins: list[TensorType]) -> tuple[Graph, Node]:
    """Input(s) [-> Reshape for volumes] -> the layer -> Output."""
    g = Graph()
    layer = g.add_node(spec.type, name="layer", params=params)
    ports = [p.name for p in spec.input_ports(layer.params)]
    assert len(ports) == len(ins)
    for i, (t, port) in enumerate(zip(ins, ports)):
        kind = kind_of(t)
        if kind == "volume":
            src = g.add_node("Input", name=f"x{i}", params={"kind": "vector",
                                                             "shape": (t.numel,)})
            pre = g.add_node("Reshape", name=f"pre{i}", params={"shape": t.dims})
            g.connect(Edge(src.id, "out", pre.id, "in"))
            src = pre
        else:
            src = g.add_node("Input", name=f"x{i}", params={"kind": kind,
                                                             "shape": t.dims})
        g.connect(Edge(src.id, "out", layer.id, port))
    ports = spec.output_ports(layer.params)
    for port in ports:  # one Output per output port, in port order
        out = g.add_node("Output", name="out" if len(ports) == 1 else f"out_{port.name}")
        g.connect(Edge(layer.id, port.name, out.id, "in"))
    return g, layer


def make_tensors(ins: list[TensorType], params: dict[str, Any]) -> list[torch.Tensor]:
    high = params.get("num_embeddings", 10)
    return [torch.randint(0, high, (BATCH, *t.dims)) if t.dtype == "long"
            else torch.randn(BATCH, *t.dims) for t in ins]


def torch_attempt(spec: LayerSpec, params: dict[str, Any], ins: list[TensorType],
                  xs: list[torch.Tensor]) -> tuple[Exception | None, torch.Tensor | None]:
    """Run the case in plain torch (module built from ``module_args``): (error, output)."""
    kind, _, cls = spec.module.partition(".")
    if kind not in ("nn", "recurrent") and spec.module not in TORCH_OPS:
        pytest.fail(f"{spec.type}: add a plain-torch reference for module {spec.module!r} to "
                    f"TORCH_OPS")
    try:
        if kind in ("nn", "recurrent") and spec.module in TORCH_OPS:  # called its own way
            layer = getattr(nn, cls)(**spec.module_args(ins, params))  # (attention: q, k, v)
            out = TORCH_OPS[spec.module](xs, params, layer)
        elif kind in ("nn", "recurrent"):
            out = getattr(nn, cls)(**spec.module_args(ins, params))(*xs)
        elif kind == "ops" and spec.module in OWN_MODULES:  # the reference needs its weights
            layer = OWN_MODULES[spec.module](**spec.module_args(ins, params))
            out = TORCH_OPS[spec.module](xs, params, layer)
        else:
            out = TORCH_OPS[spec.module](xs, params, None)
    except Exception as exc:  # noqa: BLE001 - any failure counts as torch refusing
        return exc, None
    if isinstance(out, tuple) and len(spec.output_ports(params)) == 1:
        out = out[0]  # RNNs return (sequence, state)
    return None, out


def accepted_refusal(spec: LayerSpec, params: dict[str, Any], ins: list[TensorType],
                     out: torch.Tensor) -> str | None:
    """Why the rule may refuse a case torch ran: a REASONS key, or None."""
    reason = deliberate_refusal(spec.type, params, ins)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    if reason is None and any(o.numel() == 0 for o in outs):
        reason = "empty_output"
    return reason


def describe(spec: LayerSpec, params: dict[str, Any], ins: list[TensorType]) -> str:
    return f"{spec.type} params={params} inputs={[f'{t} {t.dtype}' for t in ins]}"


def check_case(spec: LayerSpec, params: dict[str, Any], ins: list[TensorType]) -> str:
    """Check one case both ways; returns 'valid' or 'refused' (for the example tests)."""
    graph, layer = build_graph(spec, params, ins)
    analysis = analyze(graph)
    case = describe(spec, params, ins)
    others = [i for i in analysis.errors if not (i.kind == "shape" and i.node_id == layer.id)]
    assert not others, f"{case}: unexpected errors {[i.message for i in others]}"
    torch.manual_seed(0)
    xs = make_tensors(ins, layer.params)
    if analysis.is_valid:
        check_valid(spec, layer, analysis, graph, xs, case)
        assert deliberate_refusal(spec.type, layer.params, ins) is None, \
            f"{case}: on the deliberate-refusal list but the rule accepts it"
        return "valid"
    error, out = torch_attempt(spec, layer.params, ins, xs)
    if error is None:
        assert accepted_refusal(spec, layer.params, ins, out) is not None, (
            f"{case}: the rule refuses ({analysis.summary()}) but torch runs it, and it is not "
            f"a deliberate refusal (REASONS)")
    return "refused"


def check_valid(spec: LayerSpec, layer: Node, analysis: Analysis, graph: Graph,
                xs: list[torch.Tensor], case: str) -> None:
    info = analysis.info[layer.id]
    ports = spec.output_ports(layer.params)
    expected_all = [info.outputs[port.name] for port in ports]
    model = compile_graph(graph, analysis)
    model.train()
    if spec.type in FLOP_COUNTED:
        with FlopCounterMode(display=False) as counter:
            out = model(*xs)
        assert counter.get_total_flops() == 2 * BATCH * info.macs, \
            f"{case}: rule says {info.macs} MACs/sample, torch counts " \
            f"{counter.get_total_flops() / (2 * BATCH)}"
    else:
        out = model(*xs)
    outs = out if len(ports) > 1 else (out,)
    assert len(outs) == len(ports), f"{case}: {len(ports)} outputs declared, {len(outs)} returned"
    for port, out, expected in zip(ports, outs, expected_all):
        assert isinstance(out, torch.Tensor), f"{case}: {port.name} returned {type(out)}"
        assert tuple(out.shape) == (BATCH, *expected.dims), \
            f"{case}: rule says {port.name} is {expected}, torch gives {tuple(out.shape)}"
        assert out.dtype == TORCH_DTYPES[expected.dtype], \
            f"{case}: rule says {port.name} is {expected.dtype}, torch gives {out.dtype}"
    if spec.module in TORCH_OPS:  # our own op or module: the same values as plain torch
        model.eval()
        with torch.no_grad():
            got = model(*xs)
            want = TORCH_OPS[spec.module](xs, layer.params, getattr(model, layer.name, None))
        got = got if len(ports) > 1 else (got,)
        want = want if len(ports) > 1 else (want,)
        for port, g, w in zip(ports, got, want):
            torch.testing.assert_close(g, w, msg=lambda m: f"{case}: {port.name}: {m}")
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == info.params, f"{case}: rule counts {info.params} parameters, torch has " \
                                    f"{n_params}"


# ---- strategies -------------------------------------------------------------------------

def _int_bounds(p: ParamSpec) -> tuple[int, int]:
    lo = max(int(p.min) if p.min is not None else -4, -4)  # axis indices: ranks are <= 5
    cap = CAPS.get(p.name, max(lo, 0) + 6 if lo >= 0 else 4)
    hi = min(int(p.max) if p.max is not None else cap, cap)
    return lo, max(hi, lo)


def param_strategy(p: ParamSpec) -> st.SearchStrategy:
    """Any value the ParamSpec accepts, within small bounds."""
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "choice":
        return st.sampled_from(p.choices)
    if p.kind == "float":
        lo = p.min if p.min is not None else -1.0
        hi = p.max if p.max is not None else lo + 1.0
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    lo, hi = _int_bounds(p)
    if p.kind == "int":
        return st.integers(lo, hi)
    size_lo = p.length if p.length is not None else p.min_length
    size_hi = p.length if p.length is not None else max(p.min_length, 4)
    return st.lists(st.integers(lo, hi), min_size=size_lo, max_size=size_hi).map(tuple)


def _input_dependent(p: ParamSpec) -> bool:
    return p.kind == "ints" and p.length is None and p.name in ("dims", "shape")


@st.composite
def regrouped(draw, dims: tuple[int, ...]) -> tuple[int, ...]:
    """A new shape with the same number of values: dims shuffled, neighbours merged, maybe
    one of them -1."""
    order = draw(st.permutations(dims))
    out = [order[0]]
    for d in order[1:]:
        if draw(st.booleans()):
            out[-1] *= d
        else:
            out.append(d)
    if draw(st.booleans()):
        out[draw(st.integers(0, len(out) - 1))] = -1
    return tuple(out)


def dependent_strategy(p: ParamSpec, ins: list[TensorType]) -> st.SearchStrategy:
    x = ins[0]
    if p.name == "dims":  # an order of the dimensions, batch (0) first when valid
        return st.one_of(st.permutations(range(1, x.rank)).map(lambda d: (0, *d)),
                         st.permutations(range(x.rank)).map(tuple), param_strategy(p))
    return st.one_of(regrouped(x.dims), param_strategy(p))  # a new per-sample shape


def tensor_type(kind: str) -> st.SearchStrategy:
    n, dtype = KINDS[kind]
    return st.tuples(*[st.integers(1, 6)] * n).map(lambda d: TensorType(d, dtype))


DEFAULT_INPUTS = {t: ins for refs in FAMILY_REFS for t, ins in getattr(refs, "DEFAULT_INPUTS", {}).items()}


def default_inputs(type_name: str) -> list[TensorType]:
    """The input types of a layer's default case: PROBE on every axis of its preferred kind,
    unless its family names others (Squeeze needs an axis of size 1)."""
    if type_name in DEFAULT_INPUTS:
        return DEFAULT_INPUTS[type_name]
    spec = CATALOGUE[type_name]
    n, dtype = KINDS[PREFERRED[type_name][0]]
    return [TensorType((PROBE,) * n, dtype)] * len(spec.input_ports(spec.defaults()))


def _preferred_kinds(spec: LayerSpec) -> list[str]:
    """Input kinds the rule accepts with default parameters (drawn more often, so that most
    layers see plenty of valid cases; the others still come up)."""
    params = spec.defaults()
    n_in = len(spec.input_ports(params))
    ok = []
    for kind, (n, dtype) in KINDS.items():
        try:
            spec.infer_checked([TensorType((PROBE,) * n, dtype)] * n_in, params)
            ok.append(kind)
        except Exception:  # noqa: BLE001 - refused: not preferred
            pass
    return ok or list(KINDS)


# Size of every axis when probing a layer with its default parameters (divisible by the default
# nhead, larger than the default kernels).
PROBE = 8

PREFERRED = {t: _preferred_kinds(CATALOGUE[t]) for t in LAYER_TYPES}


@st.composite
def cases(draw, spec: LayerSpec) -> tuple[dict[str, Any], list[TensorType]]:
    params = {p.name: draw(param_strategy(p), label=p.name)
              for p in spec.params if not _input_dependent(p)}
    for p in spec.params:  # keep declaration order in the dict
        params.setdefault(p.name, p.default)
    n_in = len(spec.input_ports(params))
    if draw(st.integers(0, 9)) < 7:
        kind = draw(st.sampled_from(PREFERRED[spec.type]), label="kind")
    else:
        kind = draw(st.sampled_from(list(KINDS)), label="kind")
    first = draw(tensor_type(kind), label="in1")
    ins = [first]
    for i in range(n_in - 1):  # mostly matching inputs, some off by one axis, some anything
        how = draw(st.sampled_from(["same", "same", "one_axis", "any"]), label=f"in{i + 2}")
        if how == "same":
            ins.append(first)
        elif how == "one_axis":
            dims = list(first.dims)
            dims[draw(st.integers(0, len(dims) - 1))] = draw(st.integers(1, 6))
            ins.append(first.with_dims(dims))
        else:
            ins.append(draw(tensor_type(draw(st.sampled_from(list(KINDS))))))
    for p in spec.params:
        if _input_dependent(p):
            params[p.name] = draw(dependent_strategy(p, ins), label=p.name)
    return params, ins


# ---- tests -------------------------------------------------------------------------------

def test_catalogue_has_the_io_types_and_layers():
    for t in IO_TYPES:
        assert t in CATALOGUE
    assert len(LAYER_TYPES) >= 30


@pytest.mark.parametrize("type_name", LAYER_TYPES)
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_shape_rule_and_cost_agree_with_torch(type_name, data):
    spec = CATALOGUE[type_name]
    params, ins = data.draw(cases(spec), label="case")
    check_case(spec, params, ins)


@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_default_parameters_have_a_valid_input(type_name):
    """Every layer works out of the palette on some input (and that case agrees with torch)."""
    spec = CATALOGUE[type_name]
    params = spec.defaults()
    ins = default_inputs(type_name)
    assert check_case(spec, params, ins) == "valid"


# One example per deliberate refusal: torch runs it, our rule refuses it.
DELIBERATE_EXAMPLES = [
    ("tokens", "ReLU", {}, [TensorType((5,), "long")]),
    ("tokens", "Sigmoid", {}, [TensorType((5,), "long")]),
    ("tokens", "Add", {}, [TensorType((5,), "long")] * 2),
    ("unbatched", "LSTM", {"hidden_size": 3}, [TensorType((5,))]),
    ("unbatched", "MaxPool2d", {}, [TensorType((4, 4))]),
    ("unbatched", "Conv2d", {"out_channels": 3, "kernel_size": (1, 1)}, [TensorType((2, 5))]),
    ("linear_rank", "Linear", {"out_features": 4}, [TensorType((3, 4, 5))]),
    ("softmax_batch", "Softmax", {"dim": 0}, [TensorType((5,))]),
    ("softmax_batch", "LogSoftmax", {"dim": -2}, [TensorType((5,))]),
    ("flatten_batch", "Flatten", {"start_dim": 0}, [TensorType((3, 4, 5))]),
    ("permute_batch", "Permute", {"dims": (1, 0, 2)}, [TensorType((3, 4))]),
    ("concat_batch", "Concat", {"dim": 0}, [TensorType((3,))] * 2),
    ("concat_dtype", "Concat", {"dim": 1}, [TensorType((4,), "long"), TensorType((4,))]),
    ("broadcast", "Add", {}, [TensorType((3,)), TensorType((1,))]),
    ("broadcast", "Multiply", {}, [TensorType((4, 3)), TensorType((1, 3))]),
    ("layernorm_batch", "LayerNorm", {"dims": 2}, [TensorType((5,))]),
    ("upsample_volume", "Upsample", {"mode": "nearest"}, [TensorType((2, 3, 3, 3))]),
    ("adaptive_extra_dims", "AdaptiveAvgPool2d", {}, [TensorType((1, 2, 3, 3))]),
    ("empty_output", "ConvTranspose2d", {"out_channels": 1, "kernel_size": (1, 2),
                                         "stride": (1, 1), "padding": (0, 1)},
     [TensorType((1, 1, 1))]),
]


DELIBERATE_EXAMPLES += [example for refs in FAMILY_REFS for example in refs.DELIBERATE_EXAMPLES]


@pytest.mark.parametrize("reason,type_name,overrides,ins", DELIBERATE_EXAMPLES,
                         ids=[f"{r}-{t}" for r, t, *_ in DELIBERATE_EXAMPLES])
def test_deliberate_refusal_is_one_torch_would_run(reason, type_name, overrides, ins):
    spec = CATALOGUE[type_name]
    params = {**spec.defaults(), **overrides}
    graph, layer = build_graph(spec, params, ins)
    analysis = analyze(graph)
    assert [i.kind for i in analysis.errors] == ["shape"], analysis.summary()
    error, out = torch_attempt(spec, layer.params, ins, make_tensors(ins, layer.params))
    assert error is None, error
    assert accepted_refusal(spec, layer.params, ins, out) == reason


def test_every_deliberate_reason_has_an_example():
    assert {r for r, *_ in DELIBERATE_EXAMPLES} == set(REASONS)


def _bounded(spec: LayerSpec) -> list[ParamSpec]:
    return [p for p in spec.params
            if p.kind in ("int", "float") and (p.min is not None or p.max is not None)]


@pytest.mark.parametrize("type_name", [t for t in LAYER_TYPES if _bounded(CATALOGUE[t])])
def test_out_of_range_parameters_never_reach_torch(type_name):
    """A value outside a ParamSpec's bounds is a param error and the graph does not compile."""
    spec = CATALOGUE[type_name]
    bounded = _bounded(spec)
    kind = PREFERRED[type_name][0]
    n, dtype = KINDS[kind]
    for p in bounded:
        bad = p.min - 1 if p.min is not None else p.max + 1
        params = {**spec.defaults(), p.name: int(bad) if p.kind == "int" else float(bad)}
        ins = [TensorType((PROBE,) * n, dtype)] * len(spec.input_ports(spec.defaults()))
        graph, _ = build_graph(spec, spec.defaults(), ins)
        layer = graph.find("layer")
        graph.set_param(layer.id, p.name, params[p.name])
        analysis = analyze(graph)
        assert any(i.kind == "param" and p.name in i.message for i in analysis.errors), \
            f"{type_name}.{p.name}={bad}: {analysis.summary()!r}"
        with pytest.raises(CompileError):
            compile_graph(graph)


@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_module_name_resolves_in_backend(type_name):
    spec = CATALOGUE[type_name]
    kind, _, cls = spec.module.partition(".")
    if spec.module in EMITTERS:
        assert callable(EMITTERS[spec.module])
    if kind in ("nn", "recurrent"):
        assert isinstance(getattr(nn, cls, None), type) and issubclass(getattr(nn, cls),
                                                                        nn.Module)
    elif kind == "ops" and spec.module in OWN_MODULES:
        assert issubclass(OWN_MODULES[spec.module], nn.Module)
    else:
        assert spec.module in EMITTERS, f"{type_name}: module {spec.module!r} is unknown"
    # And build_module accepts it for a valid input (a module, or None for a plain op).
    params = spec.defaults()
    ins = default_inputs(type_name)
    graph, layer = build_graph(spec, params, ins)
    analysis = analyze(graph)
    assert analysis.is_valid, analysis.summary()
    in_types = list(analysis.info[layer.id].inputs.values())
    module = build_module(spec, layer, in_types)
    assert (module is None) == (spec.module in EMITTERS and kind != "recurrent"
                                and spec.module not in OWN_MODULES)


def test_io_modules_are_handled_by_the_compiler():
    assert CATALOGUE["Input"].module == "input" and CATALOGUE["Output"].module == "output"


def test_an_unknown_module_name_does_not_resolve():
    spec = LayerSpec(type="Bogus", category="Utility", description="", params=(),
                     infer=lambda ins, p: ins, module="no_such_module")
    node = Node("id", "Identity", "bogus", {})
    with pytest.raises(KeyError, match="no_such_module"):
        build_module(spec, node, [TensorType((3,))])


@settings(max_examples=40, deadline=None, database=None)
@given(kind=st.sampled_from(["image", "vector", "sequence", "tokens"]),
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple))
def test_input_to_output_passes_the_tensor_through(kind, shape):
    """Input/Output: the rule accepts exactly the dims its kind needs; the model returns the
    tensor it was given."""
    g = Graph()
    x = g.add_node("Input", name="x", params={"kind": kind, "shape": shape})
    out = g.add_node("Output", name="out")
    g.connect(Edge(x.id, "out", out.id, "in"))
    analysis = analyze(g)
    rank = {"image": 3, "vector": 1, "sequence": 2, "tokens": 1}[kind]
    if len(shape) != rank:
        assert [i.kind for i in analysis.errors] == ["shape"]
        with pytest.raises(CompileError):
            compile_graph(g)
        return
    assert analysis.is_valid, analysis.summary()
    t = analysis.info[x.id].outputs["out"]
    assert t.dims == shape and t.dtype == ("long" if kind == "tokens" else "float")
    xs = make_tensors([t], {})
    result = compile_graph(g, analysis)(*xs)
    assert result.dtype == TORCH_DTYPES[t.dtype]
    torch.testing.assert_close(result, xs[0])
