"""Shape layers: squeeze, transpose, split, slice, pad, crop, pixel shuffle, resize.

They move, cut or pad values without learning anything (no parameters). Axis parameters count
the batch as dim 0, as torch does (so -1 is the last axis), and may not point at the batch.
"""
from __future__ import annotations

from math import prod
from typing import Any

from graph.errors import ShapeError
from graph.layers.base import LayerSpec, ParamSpec, PortSpec, expect_float, expect_rank
from graph.shapes import TensorType

MAX_PIECES = 16  # most outputs a Split or Chunk may have (ports on one card)

_SPATIAL_LAYOUT = "(N, C, L), (N, C, H, W) or (N, C, D, H, W)"
_SPATIAL_NAMES = {3: ("L",), 4: ("H", "W"), 5: ("D", "H", "W")}


def _axis(x: TensorType, dim: int, name: str = "dim", rank: int | None = None) -> int:
    """``dim`` as a positive axis of ``x`` (batch = 0), refusing the batch and out of range."""
    rank = x.rank if rank is None else rank
    allowed = "1" if rank == 2 else f"1 to {rank - 1}"
    if not -rank <= dim < rank:
        raise ShapeError(f"{name} {dim} is out of range for {x}: use {allowed} (1 = the first "
                         f"axis after the batch) or -1 for the last")
    axis = dim % rank
    if axis == 0:
        raise ShapeError(f"{name} {dim} is the batch axis of {x}: each sample must stay a "
                         f"sample; use {allowed}, or -1 for the last axis")
    return axis


def _count(n: int, one: str, many: str) -> str:
    """'1 number', '2 numbers'."""
    return f"{n} {one if n == 1 else many}"


def _dim_param(default: int, help_: str, name: str = "dim") -> ParamSpec:
    return ParamSpec(name, "int", default, help_ + " Counts the batch as 0: 1 is the first "
                     "axis of a sample, -1 the last.", min=-8, max=8)


# ---- Unflatten, Squeeze, Unsqueeze, Transpose ------------------------------------------------

def _unflatten(ins, p):
    x = ins[0]
    axis = _axis(x, p["dim"])
    n = x.dims[axis - 1]
    sizes = list(p["sizes"])
    shown = tuple(p["sizes"])
    if sizes.count(-1) > 1:
        raise ShapeError(f"sizes {shown}: at most one of them may be -1 ('the rest')")
    if any(s == 0 or s < -1 for s in sizes):
        raise ShapeError(f"sizes {shown} must be positive (or one -1 for 'the rest')")
    known = prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if n % known:
            raise ShapeError(f"cannot unflatten axis {p['dim']} of {x} (size {n}) into "
                             f"{shown}: {n} is not divisible by {known}")
        sizes[sizes.index(-1)] = n // known
    elif known != n:
        raise ShapeError(f"sizes {shown} multiply to {known}, but axis {p['dim']} of {x} has "
                         f"size {n}: pick sizes whose product is {n} (or make one of them -1)")
    return [x.with_dims((*x.dims[:axis - 1], *sizes, *x.dims[axis:]))]


UNFLATTEN = LayerSpec(
    type="Unflatten", category="Reshape",
    description="Splits one axis into several, e.g. dim 1 with sizes 16,7,7 turns (N, 784) "
                "into (N, 16, 7, 7): the opposite of Flatten.",
    params=(
        _dim_param(1, "Axis to split."),
        ParamSpec("sizes", "ints", (2, 4), "New sizes that replace the axis; their product must "
                  "be its size. One may be -1: whatever is left.", min=-1, max=1_000_000),
    ),
    infer=_unflatten, module="nn.Unflatten",
    module_args=lambda ins, p: {"dim": p["dim"], "unflattened_size": tuple(p["sizes"])},
    key_params=("dim", "sizes"), default_name="unflatten",
)


def _squeeze(ins, p):
    x = ins[0]
    axis = _axis(x, p["dim"])
    if x.dims[axis - 1] != 1:
        raise ShapeError(f"axis {p['dim']} of {x} has size {x.dims[axis - 1]}, not 1: Squeeze "
                         f"only removes an axis of size 1 (pick the axis that is 1, or use "
                         f"Flatten/Reshape to merge axes)")
    return [x.with_dims(x.dims[:axis - 1] + x.dims[axis:])]


SQUEEZE = LayerSpec(
    type="Squeeze", category="Reshape",
    description="Removes an axis of size 1, e.g. (N, 1) -> (N,) for one score per sample or "
                "(N, 1, T) -> (N, T).",
    params=(_dim_param(-1, "Axis of size 1 to remove."),),
    infer=_squeeze, module="squeeze", key_params=("dim",), default_name="squeeze",
)


def _unsqueeze(ins, p):
    x = ins[0]
    axis = _axis(x, p["dim"], rank=x.rank + 1)
    return [x.with_dims((*x.dims[:axis - 1], 1, *x.dims[axis - 1:]))]


UNSQUEEZE = LayerSpec(
    type="Unsqueeze", category="Reshape",
    description="Inserts an axis of size 1, e.g. dim 1 turns a sequence (N, T, F) into a "
                "one-channel image (N, 1, T, F).",
    params=(_dim_param(1, "Where the new axis goes in the result."),),
    infer=_unsqueeze, module="unsqueeze", key_params=("dim",), default_name="unsqueeze",
)


def _transpose(ins, p):
    x = ins[0]
    a = _axis(x, p["dim0"], "dim0")
    b = _axis(x, p["dim1"], "dim1")
    dims = list(x.dims)
    dims[a - 1], dims[b - 1] = dims[b - 1], dims[a - 1]
    return [x.with_dims(dims)]


TRANSPOSE = LayerSpec(
    type="Transpose", category="Reshape",
    description="Swaps two axes, e.g. 1 and 2 turn (N, T, F) into (N, F, T) for a Conv1d over "
                "time. The batch axis stays first.",
    params=(_dim_param(1, "First axis to swap.", "dim0"),
            _dim_param(2, "Second axis to swap.", "dim1")),
    infer=_transpose, module="transpose", key_params=("dim0", "dim1"),
    default_name="transpose",
)


# ---- Split, Chunk (several outputs), Slice ---------------------------------------------------

def _pieces(value: Any) -> int:
    """How many ports a value of Split's ``sizes`` gives (any value: the card must draw)."""
    count = len(value) if isinstance(value, (tuple, list)) else 2
    return max(1, min(count, MAX_PIECES))


def _split_ports(p: dict[str, Any]) -> tuple[PortSpec, ...]:
    return tuple(PortSpec(f"out{i + 1}") for i in range(_pieces(p.get("sizes", (4, 4)))))


def _split(ins, p):
    x = ins[0]
    axis = _axis(x, p["dim"])
    n = x.dims[axis - 1]
    sizes = tuple(p["sizes"])
    if len(sizes) > MAX_PIECES:
        raise ShapeError(f"Split makes at most {MAX_PIECES} pieces, {len(sizes)} were asked for")
    if sum(sizes) != n:
        raise ShapeError(f"sizes {sizes} add up to {sum(sizes)}, but axis {p['dim']} of {x} has "
                         f"size {n}: make them add up to {n}")
    out = []
    for s in sizes:
        dims = list(x.dims)
        dims[axis - 1] = s
        out.append(x.with_dims(dims))
    return out


SPLIT = LayerSpec(
    type="Split", category="Reshape",
    description="Cuts a tensor along one axis into pieces of the sizes you give, one output "
                "each (out1, out2, ...), e.g. features 4,4 cuts (N, 8) into two (N, 4).",
    params=(
        _dim_param(1, "Axis to cut."),
        ParamSpec("sizes", "ints", (4, 4), "Size of each piece, in order (one output each); "
                  "they must add up to the axis' size.", min=1, max=1_000_000, min_length=2),
    ),
    infer=_split, module="split", output_rule=_split_ports, key_params=("dim", "sizes"),
    default_name="split",
)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _chunks_torch_makes(n: int, k: int) -> int:
    """torch.chunk: pieces of ceil(n / k), so ceil(n / that) of them (can be fewer than k)."""
    return _ceil_div(n, _ceil_div(n, k))


def _chunk(ins, p):
    x = ins[0]
    axis = _axis(x, p["dim"])
    n, k = x.dims[axis - 1], p["chunks"]
    size = _ceil_div(n, k)
    made = _chunks_torch_makes(n, k)
    if made != k:
        working = [j for j in range(2, min(n, MAX_PIECES) + 1) if _chunks_torch_makes(n, j) == j]
        hint = (f"chunks that work for size {n}: {', '.join(map(str, working))}" if working
                else f"an axis of size {n} cannot be cut into pieces")
        raise ShapeError(f"chunking axis {p['dim']} of {x} (size {n}) into {k} gives pieces of "
                         f"{size}, and only {made} of them: {hint} (or use Split with sizes of "
                         f"your own)")
    return [x.with_dims(tuple(d if i != axis - 1 else (size if c < k - 1 else n - size * c)
                              for i, d in enumerate(x.dims))) for c in range(k)]


CHUNK = LayerSpec(
    type="Chunk", category="Reshape",
    description="Cuts a tensor along one axis into a number of equal pieces (the last may be "
                "smaller), one output each: out1, out2, ...",
    params=(
        _dim_param(1, "Axis to cut."),
        ParamSpec("chunks", "int", 2, "How many pieces (outputs).", min=2, max=MAX_PIECES),
    ),
    infer=_chunk, module="chunk", output_count="chunks", key_params=("dim", "chunks"),
    default_name="chunk",
)


def slice_bounds(p: dict[str, Any]) -> slice:
    """The Python slice a Slice layer takes (end 0 means 'to the end')."""
    return slice(p["start"], p["end"] or None, p["step"])


def _slice(ins, p):
    x = ins[0]
    axis = _axis(x, p["dim"])
    n = x.dims[axis - 1]
    length = len(range(n)[slice_bounds(p)])
    if length == 0:
        end = p["end"] if p["end"] else "the end"
        raise ShapeError(f"slicing axis {p['dim']} of {x} (size {n}) from {p['start']} to "
                         f"{end} (step {p['step']}) leaves nothing: keep start within 0 to "
                         f"{n - 1} (or -{n} to -1, counted from the end) and before end")
    dims = list(x.dims)
    dims[axis - 1] = length
    return [x.with_dims(dims)]


SLICE = LayerSpec(
    type="Slice", category="Reshape",
    description="Keeps part of one axis, like x[start:end:step] in Python, e.g. start 0, "
                "end 4 keeps the first 4 features; negative numbers count from the end.",
    params=(
        _dim_param(1, "Axis to slice."),
        ParamSpec("start", "int", 0, "First index kept (negative: counted from the end, -1 "
                  "is the last).", min=-1_000_000, max=1_000_000),
        ParamSpec("end", "int", 4, "Index to stop before (not kept); negative: counted from "
                  "the end; 0 means 'to the end'.", min=-1_000_000, max=1_000_000),
        ParamSpec("step", "int", 1, "Keep every step-th value (2 = every other).", min=1,
                  max=1_000_000),
    ),
    infer=_slice, module="slice", key_params=("dim", "start", "end"), default_name="slice",
)


# ---- Pad, Crop, CropToReference --------------------------------------------------------------

PAD_MODES = ("zeros", "constant", "reflect", "replicate", "circular")


def _pad(ins, p):
    x = ins[0]
    expect_float(x)
    pad, mode = tuple(p["padding"]), p["mode"]
    if len(pad) % 2:
        raise ShapeError(f"padding needs two numbers (before, after) per axis, last axis first "
                         f"(1,1,2,2 pads W by 1 and H by 2), but has {len(pad)}")
    k = len(pad) // 2
    if k > len(x.dims):
        raise ShapeError(f"{len(pad)} padding numbers pad {k} axes, but a sample of {x} has "
                         f"only {len(x.dims)}: give at most {2 * len(x.dims)} numbers (the "
                         f"batch is never padded)")
    if mode not in ("zeros", "constant"):
        if k > 3:
            raise ShapeError(f"{mode} padding works on at most 3 axes (6 numbers), not {k}: "
                             f"use mode zeros or constant")
        if x.rank > k + 2:
            layout = ("(N, C, L)", "(N, C, H, W)", "(N, C, D, H, W)")[k - 1]
            fix = (f"give {2 * (x.rank - 2)} numbers to pad every axis after the channels, "
                   f"or use mode zeros or constant")
            last = "axis" if k == 1 else f"{k} axes"
            raise ShapeError(f"{mode} padding with {len(pad)} numbers pads the last {last} "
                             f"of {layout} but gets {x}: {fix}", port=0,
                             expected=layout, fix=fix)
    dims = list(x.dims)
    for i in range(k):
        before, after = pad[2 * i], pad[2 * i + 1]
        axis = len(dims) - 1 - i
        size = dims[axis]
        if mode == "reflect" and max(before, after) >= size:
            raise ShapeError(f"reflect padding must be smaller than the axis it pads: axis "
                             f"{axis + 1} of {x} has size {size}, padding {before},{after}: "
                             f"use at most {size - 1} on each side, or mode replicate")
        if mode == "circular" and max(before, after) > size:
            raise ShapeError(f"circular padding may wrap around at most once: axis {axis + 1} "
                             f"of {x} has size {size}, padding {before},{after}: use at most "
                             f"{size} on each side")
        dims[axis] = size + before + after
    return [x.with_dims(dims)]


PAD = LayerSpec(
    type="Pad", category="Reshape",
    description="Adds values around the last 1-3 axes (like F.pad): zeros, a constant, a "
                "mirror image of the border (reflect), copies of the edge (replicate) or the "
                "other side (circular).",
    params=(
        ParamSpec("mode", "choice", "zeros", "What the new values are.", choices=PAD_MODES),
        ParamSpec("padding", "ints", (1, 1, 1, 1), "Values added before and after each axis, "
                  "last axis first: left,right for (N, C, L); left,right,top,bottom for "
                  "images; then front,back for volumes.", min=0, max=1024, min_length=2),
        ParamSpec("value", "float", 0.0, "The value added in mode constant.",
                  min=-1_000_000.0, max=1_000_000.0),
    ),
    infer=_pad, module="pad", key_params=("mode", "padding"), default_name="pad",
)


def _spatial(x: TensorType, port: int = 0) -> tuple[str, ...]:
    expect_rank(x, (3, 4, 5), _SPATIAL_LAYOUT, "for a flat vector insert an Unflatten or "
                "Reshape to C,H,W", port=port)
    return _SPATIAL_NAMES[x.rank]


def _crop_to(x: TensorType, size: tuple[int, ...], what: str, port: int = 0) -> TensorType:
    names = _SPATIAL_NAMES[x.rank]
    for name, have, want in zip(names, x.dims[1:], size):
        if want > have:
            raise ShapeError(f"cannot crop {x} to {what}: {name} is only {have}, not {want}; "
                             f"cropping only makes tensors smaller (use Pad or Resize to "
                             f"enlarge)", port=port)
    return x.with_dims((x.dims[0], *size))


def _crop(ins, p):
    x = ins[0]
    names = _spatial(x)
    size = tuple(p["size"])
    if len(size) != len(names):
        raise ShapeError(f"size has {_count(len(size), 'number', 'numbers')} but {x} has "
                         f"{_count(len(names), 'axis', 'axes')} to crop "
                         f"({', '.join(names)}): give {len(names)}")
    return [_crop_to(x, size, '×'.join(map(str, size)))]


CROP = LayerSpec(
    type="Crop", category="Reshape",
    description="Cuts the centre out of an image (or sequence/volume): (N, C, H, W) becomes "
                "(N, C, h, w). When the rows (columns) to drop are odd, the extra one goes at the "
                "bottom (right).",
    params=(ParamSpec("size", "ints", (8, 8), "Size kept after the channels: L, or H,W, or "
                      "D,H,W.", min=1, max=65536),),
    infer=_crop, module="ops.Crop", module_args=lambda ins, p: {"size": tuple(p["size"])},
    key_params=("size",), default_name="crop",
)


def _crop_to_reference(ins, p):
    x, ref = ins
    _spatial(x)
    _spatial(ref, port=1)
    if ref.rank != x.rank:
        raise ShapeError(f"the reference {ref} must have the same layout as the input {x} "
                         f"({_SPATIAL_LAYOUT}; the channels may differ)", port=1,
                         expected=f"{len(x.dims) - 1} axes after the channels like {x}")
    size = ref.dims[1:]
    return [_crop_to(x, size, f"the size of the reference {ref}")]


CROP_TO_REFERENCE = LayerSpec(
    type="CropToReference", category="Reshape",
    description="Centre-crops the input to the height and width (length, volume) of the "
                "reference input, keeping its channels: for U-Net skips, where the encoder's "
                "features are larger than the decoder's.",
    params=(), infer=_crop_to_reference, module="ops.CropToReference",
    inputs=(PortSpec("in", "The tensor to crop."),
            PortSpec("reference", "Only its size is used: the input is cropped to its "
                     "spatial size.")),
    default_name="crop",
)


# ---- PixelShuffle, PixelUnshuffle, ChannelShuffle, Resize ------------------------------------

def _pixel_shuffle(ins, p):
    x = ins[0]
    expect_rank(x, (4,), "(N, C, H, W)", "PixelShuffle works on images")
    r = p["upscale_factor"]
    c, h, w = x.dims
    if c % (r * r):
        raise ShapeError(f"upscale_factor {r} needs the channels to be divisible by {r}×{r} = "
                         f"{r * r}, but {x} has {c}: give the layer before it a multiple of "
                         f"{r * r} channels")
    return [x.with_dims((c // (r * r), h * r, w * r))]


PIXELSHUFFLE = LayerSpec(
    type="PixelShuffle", category="Reshape",
    description="Trades channels for resolution: (N, C·r², H, W) -> (N, C, H·r, W·r). A "
                "Conv2d followed by it is a learned upsampling without checkerboard artefacts.",
    params=(ParamSpec("upscale_factor", "int", 2, "How many times larger H and W get (r).",
                      min=1, max=64),),
    infer=_pixel_shuffle, module="nn.PixelShuffle",
    module_args=lambda ins, p: {"upscale_factor": p["upscale_factor"]},
    key_params=("upscale_factor",), default_name="pixshuffle",
)


def _pixel_unshuffle(ins, p):
    x = ins[0]
    expect_rank(x, (4,), "(N, C, H, W)", "PixelUnshuffle works on images")
    r = p["downscale_factor"]
    c, h, w = x.dims
    if h % r or w % r:
        raise ShapeError(f"downscale_factor {r} needs height and width divisible by {r}, but "
                         f"{x} is {h}×{w}: Crop or Pad the image to a multiple of {r}")
    return [x.with_dims((c * r * r, h // r, w // r))]


PIXELUNSHUFFLE = LayerSpec(
    type="PixelUnshuffle", category="Reshape",
    description="Trades resolution for channels: (N, C, H·r, W·r) -> (N, C·r², H, W); "
                "downsamples without losing any value.",
    params=(ParamSpec("downscale_factor", "int", 2, "How many times smaller H and W get (r).",
                      min=1, max=64),),
    infer=_pixel_unshuffle, module="nn.PixelUnshuffle",
    module_args=lambda ins, p: {"downscale_factor": p["downscale_factor"]},
    key_params=("downscale_factor",), default_name="pixunshuffle",
)


def _channel_shuffle(ins, p):
    x = ins[0]
    expect_rank(x, (3, 4, 5), _SPATIAL_LAYOUT)
    g, c = p["groups"], x.dims[0]
    if c % g:
        fits = [d for d in range(2, min(c, 64) + 1) if c % d == 0][:6]
        hint = f"use one of {', '.join(map(str, fits))}" if fits else \
            "a single channel cannot be shuffled"
        raise ShapeError(f"groups={g} must divide the channels, but {x} has {c}: {hint}")
    return [x]


CHANNELSHUFFLE = LayerSpec(
    type="ChannelShuffle", category="Reshape",
    description="Interleaves the channels of groups (ShuffleNet): after a grouped "
                "convolution, the next one sees channels from every group.",
    params=(ParamSpec("groups", "int", 2, "Number of channel groups to interleave.", min=1,
                      max=65536),),
    infer=_channel_shuffle, module="nn.ChannelShuffle",
    module_args=lambda ins, p: {"groups": p["groups"]}, key_params=("groups",),
    default_name="chshuffle",
)

RESIZE_MODES = ("nearest", "bilinear", "bicubic", "area")
_RESIZE_TAPS = {"nearest": 0, "bilinear": 4, "bicubic": 16}


def _resize(ins, p):
    x = ins[0]
    names = _spatial(x)
    size, mode = tuple(p["size"]), p["mode"]
    if mode in ("bilinear", "bicubic") and x.rank != 4:
        raise ShapeError(f"mode {mode} needs an image (N, C, H, W), but gets {x}: use nearest "
                         f"or area", port=0, expected="(N, C, H, W)", fix="use nearest or area")
    if len(size) != len(names):
        raise ShapeError(f"size has {_count(len(size), 'number', 'numbers')} but {x} has "
                         f"{_count(len(names), 'axis', 'axes')} to resize "
                         f"({', '.join(names)}): give {len(names)}")
    return [x.with_dims((x.dims[0], *size))]


def _resize_cost(ins, outs, p):
    if p["mode"] == "area":
        return 0, ins[0].numel
    return 0, outs[0].numel * _RESIZE_TAPS[p["mode"]]


RESIZE = LayerSpec(
    type="Resize", category="Reshape",
    description="Scales an image (or sequence/volume) to a fixed size whatever its input "
                "size, by interpolation: nearest, bilinear, bicubic or area (averaging).",
    params=(
        ParamSpec("size", "ints", (32, 32), "Output size after the channels: L, or H,W, or "
                  "D,H,W.", min=1, max=65536),
        ParamSpec("mode", "choice", "bilinear", "How new values are computed: nearest copies, "
                  "bilinear/bicubic interpolate (images only), area averages (best for "
                  "shrinking).", choices=RESIZE_MODES),
        ParamSpec("align_corners", "bool", False, "bilinear/bicubic only: map the corner "
                  "pixels exactly onto each other (off is what most models use)."),
    ),
    infer=_resize, module="nn.Upsample",
    module_args=lambda ins, p: {
        "size": tuple(p["size"]), "mode": p["mode"],
        "align_corners": p["align_corners"] if p["mode"] in ("bilinear", "bicubic") else None},
    cost=_resize_cost, key_params=("size", "mode"), default_name="resize",
)

SPECS: tuple[LayerSpec, ...] = (
    UNFLATTEN, SQUEEZE, UNSQUEEZE, TRANSPOSE, SPLIT, CHUNK, SLICE, PAD, CROP, CROP_TO_REFERENCE,
    PIXELSHUFFLE, PIXELUNSHUFFLE, CHANNELSHUFFLE, RESIZE,
)
