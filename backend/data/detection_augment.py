"""Box-aware augmentation for detection: one image with torchvision.transforms.v2 and
tv_tensors.BoundingBoxes, or a whole normalised batch in a few batched kernels.

Both keep every box on its object: zoom views are chosen so no box is cut, a flip mirrors
the boxes with the image, colour changes leave boxes alone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from backend.data.base import DataError

log = logging.getLogger(__name__)


# --- augmentation --------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectionAugment:
    """Box-aware random augmentation of one image in [0, 1] (C, H, W) and its boxes.

    flip: mirror left-right with probability 1/2 (boxes follow). zoom: the view's side is
    drawn from [1 - zoom, 1 + zoom] times the image's: below 1 it crops in (always keeping
    every box whole), above 1 it zooms out (the border filled with the image's mean colour);
    then it is resized back. color: brightness/contrast/saturation jitter strength (factors
    in [1 - color, 1 + color]; hue is left alone: shifting it costs more than all the rest).
    min_box: boxes narrower or lower than this many px afterwards are dropped.

    Calling it on one image uses torchvision.transforms.v2 with tv_tensors.BoundingBoxes;
    :meth:`batch` does the same on a normalised batch in a few batched kernels.
    """

    flip: bool = False
    zoom: float = 0.25
    color: float = 0.3
    min_box: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.flip, bool):
            raise DataError(f"augmentation 'flip' must be true or false, got {self.flip!r}")
        for name, top in (("zoom", 0.9), ("color", 1.0), ("min_box", 1e6)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value <= top:
                raise DataError(f"augmentation '{name}' must be a number in 0..{top:g}, got "
                                f"{value!r}")

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> "DetectionAugment":
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            log.warning("detection augmentation: ignoring unknown option(s) %s",
                        ", ".join(unknown))
        return cls(**{k: v for k, v in options.items() if k in known})

    def __call__(self, image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from torchvision import tv_tensors
        from torchvision.transforms import v2
        from torchvision.transforms.v2 import functional as TF

        h, w = image.shape[-2:]
        img = tv_tensors.Image(image)
        bb = tv_tensors.BoundingBoxes(boxes.reshape(-1, 4).float(), format="XYXY",
                                      canvas_size=(h, w))
        if self.zoom > 0:
            img, bb = self._zoom(img, bb, TF)
        if self.flip and bool(torch.rand(()) < 0.5):
            img, bb = TF.horizontal_flip(img), TF.horizontal_flip(bb)
        if self.color > 0:
            c = float(self.color)
            img = v2.ColorJitter(brightness=c, contrast=c, saturation=c)(img)
        img, out = v2.SanitizeBoundingBoxes(min_size=self.min_box)(
            img, {"boxes": bb, "labels": labels})
        return (img.as_subclass(torch.Tensor).clamp_(0, 1),
                out["boxes"].as_subclass(torch.Tensor).float(), out["labels"])

    def batch(self, x: torch.Tensor, y: torch.Tensor, normalization: dict[str, Any],
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The same augmentation, drawn per sample, on a normalised batch x (N, C, H, W) with
        padded targets y (N, M, 5): one affine_grid + grid_sample for zoom and flip, a few
        elementwise ops for colour. Returns new (x, y); dropped boxes get label -1."""
        n, c, h, w = x.shape
        if n == 0:
            return x, y
        dev, dt = x.device, x.dtype
        gen_dev = generator.device if generator is not None else dev

        def rand(*shape: int) -> torch.Tensor:
            return torch.rand(shape, generator=generator, device=gen_dev).to(dev, dt)

        boxes, valid = y[..., :4].to(dt), y[..., 4] >= 0
        inf = torch.tensor(float("inf"), device=dev, dtype=dt)
        has = valid.any(dim=1)
        ux1 = torch.where(has, torch.where(valid, boxes[..., 0], inf).amin(1), 0.0)
        uy1 = torch.where(has, torch.where(valid, boxes[..., 1], inf).amin(1), 0.0)
        ux2 = torch.where(has, torch.where(valid, boxes[..., 2], -inf).amax(1), float(w))
        uy2 = torch.where(has, torch.where(valid, boxes[..., 3], -inf).amax(1), float(h))
        scale = 1.0 + (2.0 * rand(n) - 1.0) * self.zoom
        grow = torch.maximum(torch.maximum((uy2 - uy1) / (h * scale),
                                           (ux2 - ux1) / (w * scale)), torch.ones_like(scale))
        ch, cw = h * scale * grow, w * scale * grow  # the view, holding every box whole

        def start(size: int, view: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
                  ) -> torch.Tensor:
            first = torch.maximum(torch.clamp(size - view, max=0.0), hi - view)
            last = torch.minimum(torch.clamp(size - view, min=0.0), lo)
            return first + (last - first).clamp_min(0.0) * rand(n)

        top, left = start(h, ch, uy1, uy2), start(w, cw, ux1, ux2)
        flip = rand(n) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool, device=dev)
        sign = torch.where(flip, -1.0, 1.0).to(dt)
        theta = torch.zeros(n, 2, 3, device=dev, dtype=dt)
        # output pixel u of W samples the input at left + u * cw / W (grid_sample's [-1, 1])
        theta[:, 0, 0] = cw / w * sign
        theta[:, 0, 2] = (2.0 * left + cw) / w - 1.0
        theta[:, 1, 1] = ch / h
        theta[:, 1, 2] = (2.0 * top + ch) / h - 1.0
        if self.zoom > 0 or self.flip:
            grid = torch.nn.functional.affine_grid(theta, [n, c, h, w], align_corners=False)
            # zeros outside the image = the mean colour, since the batch is normalised
            x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                                align_corners=False)
        bx = (boxes[..., 0::2] - left[:, None, None]) * (w / cw)[:, None, None]
        by = (boxes[..., 1::2] - top[:, None, None]) * (h / ch)[:, None, None]
        bx = torch.where(flip[:, None, None], w - bx.flip(-1), bx).clamp(0, w)
        by = by.clamp(0, h)
        out_boxes = torch.stack([bx[..., 0], by[..., 0], bx[..., 1], by[..., 1]], dim=-1)
        keep = valid & (bx[..., 1] - bx[..., 0] >= self.min_box) \
            & (by[..., 1] - by[..., 0] >= self.min_box)
        y = torch.cat([torch.where(keep[..., None], out_boxes, 0.0),
                       torch.where(keep, y[..., 4].to(dt), -1.0)[..., None]], dim=-1).to(y.dtype)
        if self.color > 0:
            x = self._color_batch(x, normalization, rand)
        return x, y

    def _color_batch(self, x: torch.Tensor, normalization: dict[str, Any], rand: Any
                     ) -> torch.Tensor:
        n, c = x.shape[:2]
        mean = torch.tensor(normalization["mean"], dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(normalization["std"], dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        p = (x * std + mean).clamp_(0, 1)

        def factor() -> torch.Tensor:
            return (1.0 + (2.0 * rand(n) - 1.0) * self.color).view(n, 1, 1, 1)

        def gray(img: torch.Tensor) -> torch.Tensor:
            if c != 3:
                return img
            return (img * torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype,
                                       device=img.device).view(1, 3, 1, 1)).sum(1, keepdim=True)

        p = (p * factor()).clamp_(0, 1)                                    # brightness
        m = gray(p).mean(dim=(1, 2, 3), keepdim=True)
        p = ((p - m) * factor() + m).clamp_(0, 1)                           # contrast
        if c == 3:
            g = gray(p)
            p = ((p - g) * factor() + g).clamp_(0, 1)                       # saturation
        return (p - mean) / std

    def _zoom(self, img: Any, bb: Any, TF: Any) -> tuple[Any, Any]:
        h, w = img.shape[-2:]
        s = 1.0 + (2.0 * float(torch.rand(())) - 1.0) * self.zoom
        ch, cw = max(1, round(h * s)), max(1, round(w * s))
        boxes = bb.as_subclass(torch.Tensor)
        if len(boxes):  # the view must hold every box whole: grow it (same aspect) if not
            x1, y1 = boxes[:, 0].min().item(), boxes[:, 1].min().item()
            x2, y2 = boxes[:, 2].max().item(), boxes[:, 3].max().item()
            grow = max((y2 - y1) / ch, (x2 - x1) / cw, 1.0)
            ch, cw = int(np.ceil(ch * grow)), int(np.ceil(cw * grow))
        else:
            x1, y1, x2, y2 = 0.0, 0.0, float(w), float(h)
        top = _offset(h, ch, y1, y2)
        left = _offset(w, cw, x1, x2)
        pad = [max(0, -left), max(0, -top), max(0, left + cw - w), max(0, top + ch - h)]
        if any(pad):
            fill = img.as_subclass(torch.Tensor).mean(dim=(1, 2)).tolist()
            img, bb = TF.pad(img, pad, fill=fill), TF.pad(bb, pad)
        top, left = top + pad[1], left + pad[0]
        img, bb = TF.crop(img, top, left, ch, cw), TF.crop(bb, top, left, ch, cw)
        return TF.resize(img, [h, w], antialias=True), TF.resize(bb, [h, w])


def _offset(size: int, view: int, lo: float, hi: float) -> int:
    """A random start of a ``view``-long window over [0, size) that holds [lo, hi]."""
    first = max(min(0, size - view), int(np.ceil(hi)) - view)
    last = min(max(0, size - view), int(np.floor(lo)))
    if first >= last:
        return first if first <= max(0, size - view) else last
    return int(torch.randint(first, last + 1, ()).item())
