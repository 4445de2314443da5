"""Class colours shared by the engine (territories) and the widget (points, legend).

Colours are keyed by class index, never by "index / max class present" (the original tool's bug).
The first 10 are Tableau-10; beyond that, well-separated colours from a golden-angle walk in HCL-like space.
"""
from __future__ import annotations

import colorsys

import numpy as np

_TAB10 = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]


def class_colors(n_classes: int) -> np.ndarray:
    """Return a uint8 array [n_classes, 3] of distinct RGB colours, deterministic for a given n."""
    n = int(n_classes)
    if n < 0:
        raise ValueError("n_classes must be >= 0")
    out = list(_TAB10[:n])
    i = 0
    while len(out) < n:
        h = (0.07 + i * 0.618033988749895) % 1.0
        light = (0.38, 0.55, 0.70)[i % 3]
        sat = (0.85, 0.65, 0.75)[(i // 3) % 3]
        r, g, b = colorsys.hls_to_rgb(h, light, sat)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
        i += 1
    return np.asarray(out, dtype=np.uint8).reshape(n, 3)


def class_colors_hex(n_classes: int) -> list[str]:
    return ["#%02x%02x%02x" % tuple(int(v) for v in c) for c in class_colors(n_classes)]
