"""Draw the compression comparison as an SVG chart: accuracy against artifact bytes, one line per method.

SVG is plain text, so the chart needs no plotting library and diffs cleanly when a new run replaces it.
"""

import math
from html import escape

PANEL_WIDTH, PANEL_HEIGHT = 440, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 28, 44
LEGEND_HEIGHT = 22
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
          "#bcbd22", "#393b79", "#637939")


def line_label(row: dict) -> str:
    """Name the line a summary row belongs to: its method, with N and the rank policy where they vary."""
    label = row["method"]
    if row["method"].startswith("lorita"):
        label += f" N={row['factors']}"
    if row["rank_policy"] not in (None, "greedy"):
        label += f" ({row['rank_policy']})"
    return label


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = 10 ** math.floor(math.log10((high - low) / count))
    step *= min((m for m in (1, 2, 5, 10) if (high - low) / (step * m) <= count), default=10)
    return [step * i for i in range(math.ceil(low / step), math.floor(high / step) + 1)]


def _panel(model: str, rows: list[dict], labels: list[str], left: float) -> list[str]:
    points = [r for r in rows if r["method"] != "dense"]
    dense = [r for r in rows if r["method"] == "dense"]
    accuracies = [100 * r["accuracy_mean"] for r in rows]
    y_low, y_high = 10 * math.floor(min(accuracies) / 10), 10 * math.ceil(max(accuracies) / 10 + 0.01)
    # A run with no budget fractions has only the dense point, so the axis then spans that one.
    sized = points or dense
    x_low, x_high = math.log10(min(r["bytes"] for r in sized) / 1.3), math.log10(max(r["bytes"] for r in sized) * 1.3)
    plot_width = PANEL_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(value: float) -> float:
        return left + MARGIN_LEFT + plot_width * (math.log10(value) - x_low) / (x_high - x_low)

    def y(value: float) -> float:
        return MARGIN_TOP + plot_height * (y_high - value) / (y_high - y_low)

    parts = [f'<text x="{left + PANEL_WIDTH / 2}" y="18" text-anchor="middle" font-weight="bold">{escape(model)}</text>',
             f'<rect x="{left + MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_width}" height="{plot_height}" '
             f'fill="none" stroke="#333"/>']
    for tick in _ticks(y_low, y_high):
        parts.append(f'<line x1="{left + MARGIN_LEFT}" x2="{left + MARGIN_LEFT + plot_width}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#ddd"/>'
                     f'<text x="{left + MARGIN_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for exponent in range(math.floor(x_low), math.floor(x_high) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10 ** exponent
            if x_low <= math.log10(value) <= x_high:
                parts.append(f'<text x="{x(value):.1f}" y="{MARGIN_TOP + plot_height + 16}" '
                             f'text-anchor="middle">{value / 1000:g} kB</text>')
    parts.append(f'<text x="{left + MARGIN_LEFT + plot_width / 2}" y="{PANEL_HEIGHT - 8}" text-anchor="middle">'
                 f'.pte file size (log scale)</text>')
    parts.append(f'<text transform="translate({left + 14},{MARGIN_TOP + plot_height / 2}) rotate(-90)" '
                 f'text-anchor="middle">.pte top-1 accuracy (%)</text>')

    if dense:
        level = y(100 * dense[0]["accuracy_mean"])
        parts.append(f'<line x1="{left + MARGIN_LEFT}" x2="{left + MARGIN_LEFT + plot_width}" y1="{level:.1f}" '
                     f'y2="{level:.1f}" stroke="#000" stroke-dasharray="4 3"/>')
    for label in labels:
        line = sorted((r for r in points if line_label(r) == label), key=lambda r: r["bytes"])
        if not line:
            continue
        color = COLORS[labels.index(label) % len(COLORS)]
        path = " ".join(f"{x(r['bytes']):.1f},{y(100 * r['accuracy_mean']):.1f}" for r in line)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for r in line:
            center_x, center_y = x(r["bytes"]), y(100 * r["accuracy_mean"])
            spread = plot_height * 100 * r["accuracy_std"] / (y_high - y_low)
            parts.append(f'<line x1="{center_x:.1f}" x2="{center_x:.1f}" y1="{center_y - spread:.1f}" '
                         f'y2="{center_y + spread:.1f}" stroke="{color}"/>'
                         f'<circle cx="{center_x:.1f}" cy="{center_y:.1f}" r="3" fill="{color}"/>')
    return parts


def accuracy_svg(rows: list[dict]) -> str:
    """Return an SVG chart of summary rows (from `compare.summarize`): one panel per model, one line per method.

    Error bars span one standard deviation over seeds; the dashed line is the dense model.
    """
    models = list(dict.fromkeys(r["model"] for r in rows))
    labels = list(dict.fromkeys(line_label(r) for r in rows if r["method"] != "dense"))
    columns = len(models) + 1
    legend_rows = math.ceil((len(labels) + 1) / columns)
    width, height = PANEL_WIDTH * len(models), PANEL_HEIGHT + LEGEND_HEIGHT * (legend_rows + 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">', f'<rect width="{width}" height="{height}" fill="#fff"/>']
    for index, model in enumerate(models):
        parts += _panel(model, [r for r in rows if r["model"] == model], labels, index * PANEL_WIDTH)

    for index, label in enumerate(labels + ["dense"]):
        column, row = index % columns, index // columns
        left, top = 20 + column * (width - 40) / columns, PANEL_HEIGHT + 8 + row * LEGEND_HEIGHT
        color = COLORS[index % len(COLORS)] if label != "dense" else "#000"
        dash = ' stroke-dasharray="4 3"' if label == "dense" else ""
        parts.append(f'<line x1="{left:.1f}" x2="{left + 22:.1f}" y1="{top + 6}" y2="{top + 6}" stroke="{color}" '
                     f'stroke-width="2"{dash}/><text x="{left + 28:.1f}" y="{top + 10}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
