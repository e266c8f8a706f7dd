"""Bar charts drawn on the server as SVG (no script, no build step): the
geometry of each bar, which the ``bar_chart`` macro of
templates/portal/_charts.html draws, each bar a link to the list it counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str
    href: str
    title: str
    muted: bool = False


@dataclass(frozen=True)
class Chart:
    name: str
    width: int
    height: int
    bars: list[Bar]
    peak: int
    # Axis labels under the chart: (x, text), a few of them.
    ticks: list[tuple[float, str]]


# Room under the bars for the axis labels; the widest a bar's slot gets.
_AXIS = 18
_WIDEST_SLOT = 90


def bar_chart(
    name: str,
    points: list[tuple[str, int, str, str]],
    *,
    width: int = 640,
    height: int = 150,
    every: int = 1,
    muted: set[int] | None = None,
) -> Chart:
    """``points``: (label, value, link, title) per bar, left to right; every
    ``every``-th label is written under the axis; bars at the ``muted``
    indexes are drawn lighter (e.g. days still to come)."""
    peak = max((value for _, value, _, _ in points), default=0)
    # Few bars stay narrow rather than fill the width.
    slot = min(width / max(1, len(points)), _WIDEST_SLOT)
    room = height - _AXIS
    bars = []
    ticks = []
    for i, (label, value, href, title) in enumerate(points):
        # A bar of a non-zero value is at least 2 px high, so it can be seen and clicked.
        tall = 0.0 if not peak else max(2.0 if value else 0.0, room * value / peak)
        bars.append(
            Bar(
                x=round(i * slot + slot * 0.1, 1),
                y=round(room - tall, 1),
                width=round(slot * 0.8, 1),
                height=round(tall, 1),
                value=value,
                label=label,
                href=href,
                title=title,
                muted=i in (muted or set()),
            )
        )
        if i % every == 0:
            # Kept clear of the edges, so the first and last labels are not cut.
            ticks.append((round(min(max(i * slot + slot / 2, 24), width - 24), 1), label))
    return Chart(name, width, height, bars, peak, ticks)
