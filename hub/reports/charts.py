"""Charts as inline SVG, drawn on the server: no script, no CDN, and the same drawing on
the page (CSP `default-src 'self'` allows inline SVG markup) and in the PDF bulletin.

Each bar or point is a link (`<a href>`) when the caller gives one: the drill-down."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#2f6db5", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#16a085", "#7f8c8d")


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    href: str | None = None
    note: str = ""


def _link(inner: str, href: str | None) -> str:
    return f'<a href="{escape(href)}">{inner}</a>' if href else inner


def hbars(bars: Sequence[Bar], *, title: str, chart_id: str, width: int = 560) -> Markup:
    """Horizontal bars (per-agency figures, the funnel), labelled with their values."""
    row, label_w, pad = 26, 170, 8
    height = pad * 2 + row * max(len(bars), 1) + 20
    top = max((b.value for b in bars), default=0) or 1
    span = width - label_w - 70
    parts = [f'<svg class="chart" id="{escape(chart_id)}" role="img" width="{width}"'
             f' height="{height}" viewBox="0 0 {width} {height}"'
             f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="{pad}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, b in enumerate(bars):
        y = 24 + pad + i * row
        w = round(span * b.value / top)
        bar = (f'<rect class="bar" data-value="{b.value}" x="{label_w}" y="{y}" width="{w}"'
               f' height="{row - 8}" fill="{PALETTE[i % len(PALETTE)]}"/>'
               f'<text x="{label_w + w + 4}" y="{y + row - 12}" font-size="12">{b.value}'
               f'{escape(b.note)}</text>')
        parts.append(f'<text x="{pad}" y="{y + row - 12}" font-size="12">{escape(b.label)}'
                     '</text>' + _link(bar, b.href))
    if not bars:
        parts.append(f'<text x="{pad}" y="44" font-size="12">无数据 no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(months: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *, title: str,
          chart_id: str, width: int = 560, height: int = 220) -> Markup:
    """A trend by month: one polyline per series, a legend, the month labels."""
    left, right, top, bottom = 40, 10, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _, values in series for v in values), default=0) or 1
    step = plot_w / max(len(months) - 1, 1)
    parts = [f'<svg class="chart" id="{escape(chart_id)}" role="img" width="{width}"'
             f' height="{height}" viewBox="0 0 {width} {height}"'
             f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"'
             ' stroke="#999"/>',
             f'<text x="4" y="{top + 10}" font-size="11">{peak}</text>']
    for i, month in enumerate(months):
        x = left + i * step
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="10"'
                     f' text-anchor="middle">{escape(month[5:])}</text>')
    for k, (name, values) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}"
                          for i, v in enumerate(values))
        parts.append(f'<polyline class="series" data-name="{escape(name)}" fill="none"'
                     f' stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<rect x="{left + k * 110}" y="{height - 16}" width="10" height="10"'
                     f' fill="{colour}"/><text x="{left + k * 110 + 14}" y="{height - 7}"'
                     f' font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
