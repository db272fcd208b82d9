"""Charts drawn on the server as inline SVG: nothing to download, readable on a phone (they scale
to the width of the screen), and the figures are in the markup, so the page reads without them."""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from gateway.dashboard import thai
from shared import projection_view as view
from shared.figures import short_baht
from shared.projection_view import band_plot

PALETTE = ("#2e7d5a", "#d08a1e", "#3b6fb6", "#b5473a", "#7a5aa6", "#4a9aa0", "#8a8a3a", "#c26a9a", "#5c5c5c")


def _svg_open(width: int, height: int, title: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>')


def bars(items: list[tuple[str, int]], *, title: str, money: bool = True) -> Markup:
    """Horizontal bars, one per labelled value (sources, benefit categories)."""
    if not items or not any(v for _, v in items):
        return Markup(f'<p class="empty">{escape(title)}: ไม่มีข้อมูลในช่วงนี้</p>')
    row, width, label_w = 30, 360, 150
    height = row * len(items) + 8
    top = max(v for _, v in items) or 1
    parts = [_svg_open(width, height, title)]
    for i, (name, value) in enumerate(items):
        y = 4 + i * row
        bar = max(1.0, (width - label_w - 70) * value / top) if value else 0
        shown = short_baht(value) if money else f"{value:,}"
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="12">{escape(name[:26])}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar:.1f}" height="18" rx="3" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{label_w + bar + 4:.1f}" y="{y + 17}" font-size="11">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(items: list[tuple[str, int]], *, title: str, money: bool = True) -> Markup:
    """Vertical columns in order (months), labels under them."""
    if not items or not any(v for _, v in items):
        return Markup(f'<p class="empty">{escape(title)}: ไม่มีข้อมูลในช่วงนี้</p>')
    width, height, bottom, top_pad = 360, 170, 34, 16
    plot = height - bottom - top_pad
    top = max(v for _, v in items) or 1
    slot = width / len(items)
    parts = [_svg_open(width, height, title),
             f'<line x1="0" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#bbb"/>']
    label_every = 1 if len(items) <= 6 else (len(items) + 5) // 6
    for i, (name, value) in enumerate(items):
        bar = plot * value / top
        x = i * slot + slot * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{height - bottom - bar:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}" '
                     f'fill="{PALETTE[0]}"><title>{escape(name)}: {escape(thai.baht(value) if money else str(value))}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{i * slot + slot / 2:.1f}" y="{height - bottom + 14}" font-size="10" '
                         f'text-anchor="middle">{escape(name)}</text>')
    parts.append(f'<text x="0" y="11" font-size="10" fill="#555">สูงสุด {escape(short_baht(top) if money else str(top))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def band(path: list[dict[str, Any]], key: str, *, title: str, floor: int | None = None, money: bool = True) -> Markup:
    """A projection over the years (``path[i][key]``): the 5-95% band shaded, the expected path as
    a line and ``floor`` as a dashed line, with the same geometry as the annual statements' chart
    (``shared.projection_view.band_plot``)."""
    if not path:
        return Markup(f'<p class="empty">{escape(title)}: ไม่มีข้อมูล</p>')
    width, height = 360, 200
    plot = band_plot(path, key, left=46, top=8, width=width - 46 - 16, height=height - 52, floor=floor,
                     unit=100 if money else 1)

    def points(pairs: list[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)

    def label(value: int) -> str:
        return short_baht(value) if money else f"{value:,}"

    parts = [_svg_open(width, height, title)]
    for y, value in plot.y_ticks:
        parts.append(f'<line x1="{plot.left}" y1="{y:.1f}" x2="{plot.right:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{plot.left - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end" fill="#555">{escape(label(value))}</text>')
    for x, year in plot.x_ticks:
        parts.append(f'<text x="{x:.1f}" y="{plot.bottom + 13:.1f}" font-size="9" text-anchor="middle" fill="#555">'
                     f'{year + thai.BE_OFFSET}</text>')
    parts.append(f'<polygon class="band" points="{points(plot.band)}" fill="#c8e2d4"><title>{escape(view.text("band"))}</title></polygon>')
    parts.append(f'<polyline class="expected" points="{points(plot.expected)}" fill="none" stroke="{PALETTE[0]}" stroke-width="2.2">'
                 f'<title>{escape(view.text("expected"))}</title></polyline>')
    if plot.floor_y is not None and floor is not None:
        parts.append(f'<line class="floor" x1="{plot.left}" y1="{plot.floor_y:.1f}" x2="{plot.right:.1f}" y2="{plot.floor_y:.1f}" '
                     f'stroke="{PALETTE[3]}" stroke-width="1.5" stroke-dasharray="5 3"><title>{escape(view.text("floor"))} '
                     f'{escape(thai.baht(floor))} บาท</title></line>')
    legend_y = height - 12
    legend = [("band", view.text("band")), ("expected", view.text("expected"))]
    if floor is not None:
        legend.append(("floor", view.text("floor")))
    for i, (kind, name) in enumerate(legend):
        x = plot.left + i * 100
        if kind == "band":
            parts.append(f'<rect x="{x}" y="{legend_y - 7}" width="14" height="8" fill="#c8e2d4"/>')
        else:
            colour, dash = (PALETTE[0], "") if kind == "expected" else (PALETTE[3], ' stroke-dasharray="5 3"')
            parts.append(f'<line x1="{x}" y1="{legend_y - 3}" x2="{x + 14}" y2="{legend_y - 3}" stroke="{colour}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{x + 18}" y="{legend_y}" font-size="10">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
