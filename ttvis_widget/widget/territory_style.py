"""How the views draw the territory: ``territory_opacity`` and ``territory_extent``, synced traits (set from
Python or from the view's territory panel, js/src/panels/territory.js), and the same two settings as a
one-off override of ``save_png``.

The kernel sends each epoch's territory with its support as the image's alpha (engine/territory.py: 1 where
samples back it, 0 far from them); the view's shader (js/src/shaders.js, QUAD_FS) multiplies it in:
extent "support" draws only the supported part, "full" draws the whole box with the far field kept faint.
Neither changes what the kernel computes, so neither changes PPR or any other metric.
"""
from __future__ import annotations

import math

import traitlets as t

from .fields import Choice, Number

EXTENTS = ("support", "full")
DEFAULT_OPACITY = 0.6

__all__ = ["EXTENTS", "DEFAULT_OPACITY", "TerritoryStyle", "check_opacity", "check_extent"]


def check_opacity(value) -> float:
    """A territory opacity in [0, 1] as a float; ValueError otherwise (a bool is not an opacity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"territory_opacity must be a finite number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"territory_opacity must be in [0, 1], got {value!r}")
    return float(value)


def check_extent(value) -> str:
    """``"support"`` or ``"full"``; ValueError otherwise."""
    if value not in EXTENTS:
        raise ValueError(f"territory_extent must be one of {EXTENTS}, got {value!r}")
    return str(value)


class TerritoryStyle(t.HasTraits):
    """The territory traits of :class:`TimeTravelWidget` (a HasTraits base, so traitlets names its traits).

    ``territory_opacity`` (0..1, default 0.6): how strongly the territory is painted under the points; 0 draws
    none. ``territory_extent``: ``"support"`` (default) paints the territory only where samples back it, fading
    out over the band around them; ``"full"`` paints the decoder's classes over the whole box, the far field
    faint."""

    territory_opacity = t.Float(DEFAULT_OPACITY).tag(sync=True, browser=Number(0.0, 1.0))
    territory_extent = t.Unicode("support").tag(sync=True, browser=Choice(*EXTENTS))

    @t.validate("territory_opacity")
    def _valid_territory_opacity(self, proposal):
        try:
            return check_opacity(proposal["value"])
        except ValueError as exc:
            raise t.TraitError(str(exc)) from None

    @t.validate("territory_extent")
    def _valid_territory_extent(self, proposal):
        try:
            return check_extent(proposal["value"])
        except ValueError as exc:
            raise t.TraitError(str(exc)) from None

    def territory_overrides(self, opacity=None, extent=None) -> dict:
        """The export request's territory settings: the given ones (checked) or the traits' current values."""
        return {"territory_opacity": self.territory_opacity if opacity is None else check_opacity(opacity),
                "territory_extent": self.territory_extent if extent is None else check_extent(extent)}
