"""Random image augmentation applied to a whole training batch with torch ops on its device.

Flip, shift, rotation and noise are drawn per sample but applied in a few batched kernels (one
``affine_grid`` + ``grid_sample`` for shift and rotation), so augmenting costs little next to
the training step, on CPU or GPU.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from backend.data.base import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Augmenter:
    """Per-sample random augmentation of image batches (N, C, H, W); all off by default.

    flip: mirror left-right with probability 1/2. shift: translate by a whole number of pixels
    drawn uniformly from [-shift, shift] in x and y. rotate: rotate by an angle drawn uniformly
    from [-rotate, rotate] degrees. noise: add gaussian noise of this standard deviation (in the
    normalised units the batch is in). Pixels moved in from outside are 0 (the mean colour,
    since batches are normalised).
    """

    flip: bool = False
    shift: int = 0
    rotate: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.flip, bool):
            raise DataError(f"augmentation 'flip' must be true or false, got {self.flip!r}")
        for name in ("shift", "rotate", "noise"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise DataError(f"augmentation '{name}' must be a number of at least 0, "
                                f"got {value!r}")
        if self.shift != int(self.shift):
            raise DataError(f"augmentation 'shift' must be a whole number of pixels, "
                            f"got {self.shift!r}")

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> "Augmenter":
        """Build from the project file's plain options, e.g. {"flip": true, "shift": 2}."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            # a newer project file may carry more settings: ignore them, but say so
            log.warning("augmentation: ignoring unknown option(s) %s", ", ".join(unknown))
        return cls(**{k: v for k, v in options.items() if k in known})

    def to_options(self) -> dict[str, Any]:
        """The plain options this augmenter was built from (for the project file)."""
        return {"flip": self.flip, "shift": int(self.shift), "rotate": float(self.rotate),
                "noise": float(self.noise)}

    @property
    def enabled(self) -> bool:
        """Whether calling it changes anything."""
        return self.flip or self.shift > 0 or self.rotate > 0 or self.noise > 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch (N, C, H, W); returns a new tensor (``x`` itself when disabled).

        Random numbers come from ``generator`` (same seed, same result); pass one on the batch's
        device for speed, a CPU generator also works for a GPU batch.
        """
        if x.dim() != 4 or not x.is_floating_point():
            raise DataError(f"augmentation works on image batches (N, C, H, W) of floats, got "
                            f"shape {tuple(x.shape)} ({x.dtype}); turn augmentation off for "
                            "non-image inputs")
        if not self.enabled or x.shape[0] == 0:
            return x
        n, _, h, w = x.shape
        dev = x.device

        def rand(*shape: int) -> torch.Tensor:
            gen_dev = generator.device if generator is not None else dev
            return torch.rand(shape, generator=generator, device=gen_dev).to(dev)

        flip = rand(n) < 0.5 if self.flip else None
        if self.shift > 0 or self.rotate > 0:
            x = self._affine(x, rand, n, h, w, flip)  # the flip rides along in the same resample
        elif flip is not None:
            x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)  # exact mirror, no blur
        if self.noise > 0:
            gen_dev = generator.device if generator is not None else dev
            noise = torch.randn(x.shape, generator=generator, device=gen_dev, dtype=x.dtype)
            x = x + noise.to(dev) * self.noise
        return x

    def _affine(self, x: torch.Tensor, rand: Any, n: int, h: int, w: int,
                flip: torch.Tensor | None) -> torch.Tensor:
        """One batched affine_grid + grid_sample for per-sample rotation, translation, flip."""
        angle = (rand(n) * 2 - 1) * math.radians(self.rotate)
        s = int(self.shift)
        # whole-pixel offsets in [-s, s]; floor of a uniform over 2s+1 bins
        dx = torch.floor(rand(n) * (2 * s + 1)).clamp(max=2 * s) - s
        dy = torch.floor(rand(n) * (2 * s + 1)).clamp(max=2 * s) - s
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        # rotation in pixel space, expressed in the [-1, 1] coordinates grid_sample uses
        # (the H/W factors keep non-square images from shearing)
        theta[:, 0, 0] = cos
        theta[:, 0, 1] = -sin * h / w
        theta[:, 1, 0] = sin * w / h
        theta[:, 1, 1] = cos
        theta[:, 0, 2] = -2.0 * dx / w  # sampling from x - dx moves content by +dx
        theta[:, 1, 2] = -2.0 * dy / h
        if flip is not None:
            # mirroring the output x coordinate = negating the x column of the matrix
            theta[:, :, 0] *= torch.where(flip, -1.0, 1.0).to(theta.dtype).unsqueeze(1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
