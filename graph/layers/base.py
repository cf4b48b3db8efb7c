"""How a layer type is declared: its ports, parameters, shape rule, cost and torch module.

A layer type is declared once (one ``LayerSpec`` in one family module of this package); the
palette, inspector, validation, shape labels, compiler and code export all read it from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from graph.errors import ShapeError
from graph.shapes import TensorType

ShapeRule = Callable[[list[TensorType], dict[str, Any]], list[TensorType]]
CostRule = Callable[[list[TensorType], list[TensorType], dict[str, Any]], tuple[int, int]]
TrainableRule = Callable[[list[TensorType], list[TensorType], dict[str, Any]], int]
ArgsRule = Callable[[list[TensorType], dict[str, Any]], dict[str, Any]]

PARAM_KINDS = ("int", "float", "bool", "choice", "ints", "text", "file")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer: its kind, default, bounds or choices, and help text.

    ``kind`` is one of: int, float, bool, choice (one of ``choices``), ints (a tuple of ints;
    ``length`` fixes how many, None allows any number from ``min_length``), text (a string),
    file (a path to a file, "" for none; ``file_filter`` is the file dialog's filter).
    ``derived`` marks a value the app fills in (e.g. from a model file): shown, not edited.
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    length: int | None = None
    min_length: int = 1
    file_filter: str = ""
    derived: bool = False

    def __post_init__(self) -> None:
        assert self.kind in PARAM_KINDS, self.kind

    def coerce(self, value: Any) -> Any:
        """Bring a JSON value into this parameter's canonical Python form (lists -> tuples).

        Raises ValueError/TypeError with a short reason when the value has the wrong type.
        """
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise TypeError(f"expected true or false, got {value!r}")
        if self.kind == "int":
            if not _whole(value):
                raise TypeError(f"expected a whole number, got {_short(value)}")
            return int(value)
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not _finite(value):
                raise TypeError(f"expected a number, got {_short(value)}")
            return float(value)
        if self.kind in ("text", "file"):  # text: plain data recorded by a tool
            if not isinstance(value, str):
                raise TypeError(f"expected text, got {_short(value)}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"expected one of {', '.join(map(str, self.choices))}, got {value!r}")
            return value
        # ints
        if isinstance(value, (int, float)) and not isinstance(value, bool) and self.length:
            value = [value] * self.length  # a single number stands for "the same on every axis"
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list of whole numbers, got {value!r}")
        items = []
        for v in value:
            if not _whole(v):
                raise TypeError(f"expected whole numbers, got {_short(v)}")
            items.append(int(v))
        return tuple(items)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, in words a user understands, or None if it is."""
        try:
            value = self.coerce(value)
        except (TypeError, ValueError) as exc:
            return f"{self.name}: {exc}"
        values = value if self.kind == "ints" else (value,)
        if self.kind == "ints":
            if self.length is not None and len(value) != self.length:
                return f"{self.name}: expected {self.length} numbers, got {len(value)}"
            if len(value) < self.min_length:
                return f"{self.name}: expected at least {self.min_length} numbers"
        if self.kind in ("int", "float", "ints"):
            for v in values:
                if self.min is not None and v < self.min:
                    return f"{self.name} must be at least {_num(self.min)} (is {_num(v)})"
                if self.max is not None and v > self.max:
                    return f"{self.name} must be at most {_num(self.max)} (is {_num(v)})"
        return None


def _num(v: float) -> str:
    if isinstance(v, int):
        return _short(v)
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _finite(v: int | float) -> bool:
    """True for a number that is a finite float (ints beyond float range are not)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _whole(v: object) -> bool:
    """True for an int, or a finite float with no fractional part (bools are not numbers)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return isinstance(v, int) or (math.isfinite(v) and v.is_integer())


def _short(v: object) -> str:
    """repr() of a value, cut short for huge numbers/texts in messages."""
    if isinstance(v, int) and abs(v) >= 10 ** 30:
        return f"a number with {len(str(abs(v)))} digits"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class PortSpec:
    """A named input or output of a layer."""

    name: str
    help: str = ""


def _no_cost(ins: list[TensorType], outs: list[TensorType], p: dict[str, Any]) -> tuple[int, int]:
    return 0, 0


def _no_args(ins: list[TensorType], p: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class LayerSpec:
    """The single declaration of a layer type.

    ``module`` names what the backend builds: ``"nn.Conv2d"`` for a torch.nn class, or the
    name of one of LayerForge's own modules/ops (the backend resolves it; unknown names fail
    the catalogue test). ``module_args`` derives the constructor arguments from the inferred
    input types and parameters (in_channels, in_features, input_size come from shapes, as
    Keras' ``build(input_shape)`` does). ``cost`` gives (parameter count, MACs per
    sample); ``trainable`` gives how many of those parameters training updates, for layers
    that can be frozen (None: all of them).
    """

    type: str
    category: str
    description: str
    params: tuple[ParamSpec, ...]
    infer: ShapeRule
    module: str
    module_args: ArgsRule = _no_args
    cost: CostRule = _no_cost
    trainable: TrainableRule | None = None
    inputs: tuple[PortSpec, ...] = (PortSpec("in"),)
    outputs: tuple[PortSpec, ...] = (PortSpec("out"),)
    variadic: bool = False  # inputs are in1..inK, K given by the "inputs" parameter
    output_count: str = ""  # outputs are out1..outK, K given by this parameter (Split, Chunk)
    # or the output ports as a function of the parameters (MaxPool2d's optional indices)
    output_rule: Callable[[dict[str, Any]], tuple[PortSpec, ...]] | None = None
    # the input ports as a function of the parameters (DetectionDecode reads size and offset
    # only for box heads)
    input_rule: Callable[[dict[str, Any]], tuple[PortSpec, ...]] | None = None
    key_params: tuple[str, ...] = ()
    version: int = 1
    default_name: str = ""
    aliases: tuple[str, ...] = ()  # what other tools and papers call it ("dense", "deconv")
    param_index: dict[str, ParamSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_index", {p.name: p for p in self.params})
        if not self.default_name:
            object.__setattr__(self, "default_name", self.type.lower())

    def defaults(self) -> dict[str, Any]:
        """A fresh dict of default parameter values."""
        return {p.name: p.default for p in self.params}

    def input_ports(self, params: dict[str, Any]) -> tuple[PortSpec, ...]:
        """The input ports for these parameters (merge layers have as many as asked for)."""
        if self.input_rule is not None:
            return self.input_rule(params)
        if self.variadic:
            count = params.get("inputs", 2)
            count = count if isinstance(count, int) and not isinstance(count, bool) else 2
            limit = self.param_index["inputs"].max if "inputs" in self.param_index else None
            if limit is not None:
                count = min(count, int(limit))  # an out-of-range value is reported, not built
            return tuple(PortSpec(f"in{i + 1}") for i in range(max(count, 0)))
        return self.inputs

    def output_ports(self, params: dict[str, Any]) -> tuple[PortSpec, ...]:
        """The output ports for these parameters (Split/Chunk have as many as asked for)."""
        if self.output_rule is not None:
            return self.output_rule(params)
        if self.output_count:
            count = params.get(self.output_count, self.param_index[self.output_count].default)
            count = count if isinstance(count, int) and not isinstance(count, bool) else 2
            limit = self.param_index[self.output_count].max
            if limit is not None:
                count = min(count, int(limit))
            return tuple(PortSpec(f"out{i + 1}") for i in range(max(count, 1)))
        return self.outputs

    def infer_checked(self, inputs: list[TensorType], params: dict[str, Any]) -> list[TensorType]:
        """Run the shape rule; any arithmetic slip becomes a ShapeError, never a crash."""
        try:
            return self.infer(inputs, params)
        except ShapeError:
            raise
        except (ValueError, TypeError, ZeroDivisionError, IndexError, KeyError) as exc:
            raise ShapeError(f"cannot work out the output shape ({exc})") from exc


def expect_rank(t: TensorType, ranks: tuple[int, ...], layout: str, fix: str = "",
                port: int = 0) -> None:
    """Raise the standard readable ShapeError when ``t`` has the wrong rank (or is token ids)."""
    if t.rank not in ranks:
        raise ShapeError(f"expects {layout} but gets {t}" + (f": {fix}" if fix else ""),
                         port=port, expected=layout, fix=fix)
    expect_float(t, layout, port)


def expect_float(t: TensorType, layout: str = "", port: int = 0) -> None:
    """Token ids (integers) only make sense in an Embedding."""
    if t.dtype != "float":
        fix = "put an Embedding first"
        what = f"{layout} of real numbers" if layout else "real numbers"
        raise ShapeError(f"expects {what} but gets token ids {t}: {fix}",
                         port=port, expected=what, fix=fix)
