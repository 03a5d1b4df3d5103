"""The overview's SVG charts (dashboard/charts.py) and the figures behind them (domain/overview.py): escaping,
empty data, one bucket, the axis, and how counts fall into hours, days, series and rates."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

from mycpaas.dashboard.charts import meter, series_class, stacked_bars
from mycpaas.domain.overview import SERIES, Bucket, Count, series_of, summarise, window_start

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 12, 7, 16, 42, 5)


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML, or this raises


def _bucket(start: datetime, **by_series: int) -> Bucket:
    return Bucket(start, {s: by_series.get(s.replace(" ", "_"), 0) for s in SERIES})


def test_text_is_escaped_everywhere() -> None:
    hostile = '<script>alert("x")</script> & "quotes"'
    svg = stacked_bars(
        'id"><script>', hostile, hostile, [_bucket(NOW, delivered=2)], SERIES, lambda _: hostile
    )
    assert "<script>" not in svg
    root = _parse(svg)
    assert root.find(f"{SVG}title").text == hostile  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == hostile  # type: ignore[union-attr]
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == 'id"><script>-title id"><script>-desc'


def test_empty_data_draws_the_axis_and_says_so() -> None:
    svg = stacked_bars("c", "t", "d", [_bucket(NOW - timedelta(hours=n)) for n in range(3)], SERIES, str)
    root = _parse(svg)
    assert root.findall(f".//{SVG}rect") == []
    assert [g.get("data-total") for g in root.findall(f"{SVG}g")] == ["0", "0", "0"]
    assert "No messages in this period" in svg
    assert _parse(stacked_bars("c", "t", "d", [], SERIES, str)).findall(f"{SVG}g") == []


def test_one_bucket_stacks_its_series_in_order_up_to_a_round_axis() -> None:
    root = _parse(
        stacked_bars(
            "c", "t", "d", [_bucket(NOW, delivered=3, failed=2, in_flight=1)], SERIES, lambda _: "16:00"
        )
    )
    rects = root.findall(f".//{SVG}rect")
    assert [r.get("class") for r in rects] == ["c-delivered", "c-in-flight", "c-failed"]
    heights = [float(r.get("height") or 0) for r in rects]
    assert [round(h / heights[1], 2) for h in heights] == [3, 1, 2]  # proportional to the counts
    ys = [float(r.get("y") or 0) for r in rects]
    assert ys[0] > ys[1] > ys[2]  # stacked upwards
    ticks = [t.text for t in root.findall(f"{SVG}text")]
    assert "10" in ticks and "0" in ticks and "16:00" in ticks  # 6 rounds up to 10
    assert root.find(f"{SVG}g/{SVG}title").text == "16:00: delivered 3, in flight 1, failed 2"  # type: ignore[union-attr]
    assert "No messages" not in ET.tostring(root, encoding="unicode")


def test_meter() -> None:
    assert "no data" in meter("m", "Rate", None)
    root = _parse(meter("m", "Rate <b>", 0.5))
    assert root.find(f"{SVG}title").text == "Rate <b>: 50.0%"  # type: ignore[union-attr]
    assert root.findall(f"{SVG}rect")[1].get("width") == "100.0"
    assert _parse(meter("m", "Rate", 1.7)).findall(f"{SVG}rect")[1].get("width") == "200.0"


def test_series_and_classes() -> None:
    assert [series_of(s) for s in ("queued", "sending", "scheduled", "accepted", "receiving")] == [
        "in flight"
    ] * 5
    assert series_of("read") == "delivered" and series_of("sent") == "sent"
    assert series_class("in flight") == "c-in-flight"


def test_summarise_buckets_rates_and_errors() -> None:
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    counts = [
        Count(hour, "delivered", 0, 6, 8),
        Count(hour, "undelivered", 30003, 2, 2),
        Count(hour - timedelta(hours=5), "failed", 30004, 1, 1),
        Count(hour - timedelta(hours=30), "undelivered", 30003, 1, 3),  # yesterday: in days, not in hours
        Count(hour - timedelta(days=40), "delivered", 0, 50, 50),  # before the window: nowhere
        Count(hour, "queued", 0, 0, 0),  # a key every message has left
    ]
    figures = summarise(counts, NOW, {30003: "Unreachable destination handset"})
    assert len(figures.hours) == 24 and figures.hours[-1].start == hour
    assert figures.hours[-1].by_series["delivered"] == 6 and figures.hours[-1].total == 8
    assert figures.hours[-6].by_series["failed"] == 1
    assert sum(b.total for b in figures.hours) == 9
    assert len(figures.days) == 30 and figures.days[-1].start == hour.replace(hour=0)
    assert figures.days[-1].total == 9 and figures.days[-2].total == 1
    assert (figures.messages, figures.segments) == (10, 14)
    assert figures.delivery_rate == 6 / 10
    assert [(e.code, e.messages, e.meaning) for e in figures.errors] == [
        (30003, 3, "Unreachable destination handset"),
        (30004, 1, ""),
    ]
    assert window_start(NOW) == datetime(2026, 11, 8)
    empty = summarise([], NOW, {})
    assert empty.delivery_rate is None and empty.webhook_success_rate is None and empty.messages == 0


def test_webhook_success_rate_leaves_out_skipped() -> None:
    figures = summarise([], NOW, {})
    figures.webhook_attempts.update({"delivered": 3, "retrying": 1, "skipped": 10})
    assert figures.webhook_success_rate == 0.75
