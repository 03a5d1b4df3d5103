"""Charts drawn on the server as inline SVG: no script, no chart library, no CDN (the content security policy
stays `script-src 'self'`; colours come from classes in app.css, since `style-src 'self'` refuses inline styles).

Each chart is an `<svg role="img">` with a <title> and a <desc> naming what it shows, and each bar a <title>
with its figures; the page puts the same numbers in a table beside it for screen readers and copying. Every
text is escaped here, so a name or a label can never become markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

from mycpaas.domain.overview import Bucket

WIDTH = 720
HEIGHT = 220
_PLOT_TOP = 12
_PLOT_BOTTOM = 180  # the x axis; labels below it
_PLOT_LEFT = 48
_PLOT_RIGHT = WIDTH - 8


def series_class(series: str) -> str:
    """The CSS class of a series (app.css gives it its colour): `c-in-flight` for "in flight"."""
    return "c-" + series.replace(" ", "-")


def _nice_max(value: int) -> int:
    """The axis' top: the smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= factor * step:
                return factor * step
        step *= 10


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    buckets: Sequence[Bucket],
    series: Sequence[str],
    label: Callable[[datetime], str],
    label_every: int = 1,
) -> Markup:
    """Bars of `buckets` side by side, each stacked by `series` (in that order, from the axis up)."""
    top = _nice_max(max((bucket.total for bucket in buckets), default=0))
    plot_height = _PLOT_BOTTOM - _PLOT_TOP
    slot = (_PLOT_RIGHT - _PLOT_LEFT) / max(len(buckets), 1)
    bar = max(slot * 0.75, 1.0)
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
        f'<line class="axis" x1="{_PLOT_LEFT}" y1="{_PLOT_BOTTOM}" x2="{_PLOT_RIGHT}" y2="{_PLOT_BOTTOM}"/>',
        f'<line class="grid" x1="{_PLOT_LEFT}" y1="{_PLOT_TOP}" x2="{_PLOT_RIGHT}" y2="{_PLOT_TOP}"/>',
        f'<text class="tick" x="{_PLOT_LEFT - 6}" y="{_PLOT_TOP + 4}" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{_PLOT_LEFT - 6}" y="{_PLOT_BOTTOM + 4}" text-anchor="end">0</text>',
    ]
    for index, bucket in enumerate(buckets):
        x = _PLOT_LEFT + index * slot + (slot - bar) / 2
        name = escape(label(bucket.start))
        y = float(_PLOT_BOTTOM)
        figures = ", ".join(f"{s} {bucket.by_series.get(s, 0)}" for s in series if bucket.by_series.get(s, 0))
        parts.append(
            f'<g class="bar" data-total="{bucket.total}"><title>{name}: {escape(figures or "none")}</title>'
        )
        for name_of_series in series:
            count = bucket.by_series.get(name_of_series, 0)
            if not count:
                continue
            height = count / top * plot_height
            y -= height
            parts.append(
                f'<rect class="{series_class(name_of_series)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}"/>'
            )
        parts.append("</g>")
        if index % label_every == 0:
            parts.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{_PLOT_BOTTOM + 16}" text-anchor="middle">{name}</text>'
            )
    if top == 1 and not any(bucket.total for bucket in buckets):
        parts.append(
            f'<text class="empty" x="{(WIDTH + _PLOT_LEFT) / 2:.0f}" y="{(_PLOT_TOP + _PLOT_BOTTOM) / 2:.0f}" '
            'text-anchor="middle">No messages in this period</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def meter(chart_id: str, title: str, ratio: float | None) -> Markup:
    """One horizontal bar filled to `ratio` (0..1), with the percentage as text; "no data" for None."""
    shown = "no data" if ratio is None else f"{ratio:.1%}"
    filled = 0.0 if ratio is None else max(0.0, min(1.0, ratio)) * 200
    return Markup(
        f'<svg class="meter" id="{escape(chart_id)}" role="img" viewBox="0 0 280 24" '
        f'aria-labelledby="{escape(chart_id)}-title" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}: {shown}</title>'
        '<rect class="meter-track" x="0" y="4" width="200" height="16"/>'
        f'<rect class="meter-fill" x="0" y="4" width="{filled:.1f}" height="16"/>'
        f'<text class="meter-text" x="208" y="17">{shown}</text></svg>'
    )
