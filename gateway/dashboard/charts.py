"""Charts drawn on the server as inline SVG: nothing to download, readable on a phone (they scale
to the width of the screen), and the figures are in the markup, so the page reads without them."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from gateway.dashboard import thai

PALETTE = ("#2e7d5a", "#d08a1e", "#3b6fb6", "#b5473a", "#7a5aa6", "#4a9aa0", "#8a8a3a", "#c26a9a", "#5c5c5c")


def _short_baht(satang: int) -> str:
    """``1.3 ล.`` / ``350 พ.`` / ``900``: axis and bar labels that fit a phone screen."""
    value = satang / 100
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f} ล."
    if abs(value) >= 10_000:
        return f"{value / 1_000:.0f} พ."
    return f"{value:,.0f}"


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
        shown = _short_baht(value) if money else f"{value:,}"
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
    parts.append(f'<text x="0" y="11" font-size="10" fill="#555">สูงสุด {escape(_short_baht(top) if money else str(top))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
