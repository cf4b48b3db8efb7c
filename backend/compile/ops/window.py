"""Torch side of the Swin layers (graph/layers/window.py): ShiftedWindowAttention and
PatchMerging, written in plain torch (the Code view prints these classes as they are) with
torchvision's weight names, so a torchvision Swin's state_dict loads into them as it is.

Everything that depends on the map's size (the padding, the shift mask) is computed from
``x.shape`` with Python ints, so exports see static sizes and no data-dependent shape.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from backend.compile.ops.base import Emitter


class ShiftedWindowAttention(nn.Module):
    """Swin's (shifted) window attention on (N, H, W, C), as torchvision's
    ``shifted_window_attention``: zero-pad H and W to multiples of the window, roll by
    -shift (an axis that fits in one window is not shifted), attend inside each window with
    a learned relative position bias (and, when shifted, -100 between pixels of different
    regions the roll brought together), project, undo the roll and the padding."""

    def __init__(self, dim, num_heads, window_size, shift_size, qkv_bias=True,
                 proj_bias=True, attention_dropout=0.0, dropout=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.shift_size = tuple(shift_size)
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # index into the table for every (query, key) pair of a window
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww),
                                            indexing="ij")).flatten(1)  # 2, wh*ww
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
        index = (relative[:, :, 0] + wh - 1) * (2 * ww - 1) + relative[:, :, 1] + ww - 1
        self.register_buffer("relative_position_index", index.flatten())

    @staticmethod
    def shift_mask(height, width, window, shift, device, dtype):
        """(windows, area, area): 0 between pixels of one region of the rolled map, -100
        between pixels that the roll brought together from different regions."""
        regions = []
        for size, w, s in ((height, window[0], shift[0]), (width, window[1], shift[1])):
            i = torch.arange(size, device=device)
            regions.append((i >= size - w).long() + (i >= size - s).long())
        ids = regions[0][:, None] * 3 + regions[1][None, :]
        ids = ids.reshape(height // window[0], window[0], width // window[1], window[1])
        ids = ids.permute(0, 2, 1, 3).reshape(-1, window[0] * window[1])
        different = ids[:, None, :] != ids[:, :, None]
        return different.to(dtype) * -100.0

    def forward(self, x):
        _, h, w, c = x.shape
        wh, ww = self.window_size
        pad_b, pad_r = (wh - h % wh) % wh, (ww - w % ww) % ww
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        ph, pw = h + pad_b, w + pad_r
        shift = (self.shift_size[0] if wh < ph else 0, self.shift_size[1] if ww < pw else 0)
        shifted = shift[0] > 0 or shift[1] > 0
        if shifted:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        rows, cols, area, heads = ph // wh, pw // ww, wh * ww, self.num_heads
        windows = rows * cols
        # (N * windows, area, C), window by window
        x = x.reshape(-1, rows, wh, cols, ww, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(-1, area, c)
        qkv = self.qkv(x).reshape(-1, area, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1))
        bias = self.relative_position_bias_table[self.relative_position_index]
        attn = attn + bias.reshape(area, area, heads).permute(2, 0, 1).unsqueeze(0)
        if shifted:
            mask = self.shift_mask(ph, pw, self.window_size, shift, x.device, x.dtype)
            attn = attn.reshape(-1, windows, heads, area, area) + mask.unsqueeze(1)
            attn = attn.reshape(-1, heads, area, area)
        attn = F.softmax(attn, dim=-1)
        attn = F.dropout(attn, p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(-1, area, c)
        x = F.dropout(self.proj(x), p=self.dropout, training=self.training)
        # windows back to the map
        x = x.reshape(-1, rows, cols, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(-1, ph, pw, c)
        if shifted:
            x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
        return x[:, :h, :w, :].contiguous()


class PatchMerging(nn.Module):
    """Swin's patch merging on (..., H, W, C) -> (..., ceil(H/2), ceil(W/2), 2C): zero-pad H
    and W to even sizes, concatenate the four pixels of each 2x2 patch (top-left,
    bottom-left, top-right, bottom-right: torchvision's order), LayerNorm(4C), then a
    Linear(4C -> 2C) without bias."""

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=eps)

    def forward(self, x):
        h, w = x.shape[-3], x.shape[-2]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :],
                       x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return self.reduction(self.norm(x))


EMITTERS: dict[str, Emitter] = {}
# catalogue module name ("ops.X") -> own nn.Module class
MODULES: dict[str, type] = {f"ops.{cls.__name__}": cls for cls in (
    ShiftedWindowAttention, PatchMerging)}
