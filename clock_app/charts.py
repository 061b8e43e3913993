"""Geometry for the dashboard's server-rendered SVG charts: numbers in, rectangles and ticks out.

Pure and Django-free, so the templates only place what is computed here (no JavaScript, no build step, no
CDN: the page reads the same with scripts off, and every bar carries a ``<title>`` and every chart a data
table). Coordinates are SVG user units, rounded to a tenth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 44, 12, 26  # margins: y labels, the rate axis, breathing room, x labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    css: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Series:
    """One row of bars: ``values`` per category, each bar titled ``titles[i]`` (its text alternative)."""

    name: str
    css: str
    values: Sequence[int]
    titles: Sequence[str]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    line: str = ""  # polyline points of a rate drawn over the bars, "x,y x,y …"
    line_ticks: list[Tick] = field(default_factory=list)  # its axis on the right, 0–100 %


STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ) at or above ``value``, at least 2,
    so that the axis's middle tick is round too."""
    if value <= 2:
        return 2
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in STEPS if step * power >= value)


def number(value: float) -> str:
    """An axis label: ``10`` rather than ``10.0``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _round(value: float) -> float:
    return round(value, 1)


def bar_chart(
    series: Sequence[Series],
    labels: Sequence[str],
    *,
    tick_every: int = 1,
    rates: Sequence[float | None] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    value_label=number,
) -> Chart:
    """Bars per category; several series share a slot, drawn in order (the later over the earlier, so a part
    of a whole reads as the darker share of its bar). ``rates`` (0–1, None for unknown) is drawn as a line on
    a 0–100 % axis on the right. ``value_label`` formats the y axis."""
    count = len(labels)
    left, right, top, bottom = LEFT, width - RIGHT, TOP, height - BOTTOM
    top_value = nice_ceiling(max((v for s in series for v in s.values), default=0))
    slot = (right - left) / max(count, 1)
    gap = min(2.0, slot * 0.2)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / top_value

    bars = [
        Bar(
            x=_round(left + i * slot + gap / 2),
            y=_round(y_of(value)),
            width=_round(max(slot - gap, 0.5)),
            height=_round(bottom - y_of(value)),
            title=one.titles[i],
            css=one.css,
        )
        for one in series
        for i, value in enumerate(one.values)
        if value
    ]
    x_ticks = [Tick(_round(left + (i + 0.5) * slot), labels[i]) for i in range(0, count, max(tick_every, 1))]
    y_ticks = [Tick(_round(y_of(v)), value_label(v)) for v in (0, top_value / 2, top_value)]
    line, line_ticks = "", []
    if rates is not None:
        points = [
            f"{_round(left + (i + 0.5) * slot)},{_round(bottom - (bottom - top) * rate)}"
            for i, rate in enumerate(rates)
            if rate is not None
        ]
        line = " ".join(points)
        line_ticks = [Tick(_round(bottom - (bottom - top) * share), f"{share:.0%}") for share in (0, 0.5, 1)]
    return Chart(width, height, left, right, top, bottom, bars, x_ticks, y_ticks, line, line_ticks)


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    label: str  # shown inside the segment when it is wide enough
    title: str
    css: str


@dataclass(frozen=True)
class FlowRow:
    label: str
    y: float
    total_title: str
    segments: list[Segment]


def stacked_rows(
    rows: Sequence[tuple[str, str, Sequence[tuple[str, int, str, str]]]],
    *,
    width: int = WIDTH,
    row_height: int = 34,
    label_width: int = 150,
    char_width: float = 6.6,
) -> tuple[list[FlowRow], int]:
    """Horizontal stacked bars on one scale (the largest row fills the width): ``rows`` of ``(label,
    total_title, [(segment label, value, css, title), …])``; a segment shows its label when it fits (at
    ``char_width`` per character). Returns the rows and the picture's height."""
    top_value = max((sum(v for _, v, _, _ in segments) for _, _, segments in rows), default=0) or 1
    span = width - label_width - 8
    placed = []
    for index, (label, total_title, segments) in enumerate(rows):
        x, drawn = float(label_width), []
        for name, value, css, title in segments:
            if value <= 0:
                continue
            w = span * value / top_value
            fits = len(name) * char_width + 12 <= w
            drawn.append(Segment(_round(x), _round(max(w, 0.5)), name if fits else "", title, css))
            x += w
        placed.append(FlowRow(label, index * (row_height + 10), total_title, drawn))
    return placed, len(rows) * (row_height + 10)
