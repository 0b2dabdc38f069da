"""What a report section shows: tables, key figures, SVG charts and an SVG map (no tiles).

Pure helpers: they know no model. Each object displays itself in Jupyter (_repr_html_)
and the in-process runner (app/notebook.py) asks it the same way.
"""
import html
import json
import math

# SVG text takes the report's fonts (app/pdf.py), not fontconfig's first sans-serif.
FONT = "font-family=\"ZrtSansSC, 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif\""
GREEN, AMBER, GREY, INK, RULE = "#1f7a4d", "#c98a00", "#9aa0a6", "#222", "#d0d4d9"
TIER_COLOURS = {"gold": "#c98a00", "mass": "#2f6fb0", "potential": "#7a8793"}


def esc(value):
    return html.escape("" if value is None else str(value))


class HTML:
    """Ready HTML (escaped by whoever built it)."""

    def __init__(self, text):
        self.text = text

    def _repr_html_(self):
        return self.text


class Table:
    """A table with a header that repeats on every page it runs over; numbers align right.

    rows are sequences; a cell may be an HTML object (kept as is). empty is the sentence
    printed instead of an empty table.
    """

    def __init__(self, columns, rows, empty="", numeric=None, caption="", classes=""):
        self.columns, self.rows, self.empty = list(columns), [list(r) for r in rows], empty
        self.numeric = set(numeric if numeric is not None else
                           (i for i in range(len(self.columns))
                            if self.rows and all(isinstance(r[i], (int, float)) or r[i] in ("", "—", None)
                                                 for r in self.rows)))
        self.caption, self.classes = caption, classes

    def _cell(self, i, value, tag="td"):
        text = value.text if isinstance(value, HTML) else esc(_number(value))
        cls = ' class="num"' if i in self.numeric else ""
        return f"<{tag}{cls}>{text}</{tag}>"

    def _repr_html_(self):
        if not self.rows:
            return f'<p class="empty">{esc(self.empty)}</p>' if self.empty else ""
        head = "".join(self._cell(i, c, "th") for i, c in enumerate(self.columns))
        body = "".join("<tr>" + "".join(self._cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in self.rows)
        caption = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        return f'<table class="{self.classes}">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _number(value):
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else value


def percent(ratio):
    """A ratio as a percentage with one decimal; None (nothing counted) is "—", never 0 %."""
    return "—" if ratio is None else f"{ratio * 100:.1f}%"


def change(now, before, fmt=str):
    """The change from last week, signed: "+3", "−2", "±0"; "—" when either is unknown."""
    if now is None or before is None:
        return "—"
    diff = now - before
    if isinstance(diff, float):
        diff = round(diff, 1)
        text = f"{abs(diff):.1f}"
    else:
        text = f"{abs(diff):,}"
    return "±0" if diff == 0 else ("+" if diff > 0 else "−") + fmt(text)


class Figures:
    """Key figures: label, this week, last week and the change, as a grid of boxes."""

    def __init__(self, items):
        self.items = items  # (label, value text, last week text, change text)

    def _repr_html_(self):
        boxes = "".join(
            f'<div class="kf"><div class="kf-label">{esc(label)}</div>'
            f'<div class="kf-value">{esc(value)}</div>'
            f'<div class="kf-change">上周 {esc(before)} · 变化 {esc(delta)}</div></div>'
            for label, value, before, delta in self.items)
        return f'<div class="figures">{boxes}</div>'


class SVG:
    def __init__(self, text, caption=""):
        self.text, self.caption = text, caption

    def _repr_svg_(self):
        caption = f'<p class="caption">{esc(self.caption)}</p>' if self.caption else ""
        return f'<div class="figure">{self.text}{caption}</div>'

    _repr_html_ = _repr_svg_


def bars(labels, series, width=640, height=200, colours=(GREEN, GREY), legend=()):
    """A bar chart: one group of bars per label, one bar per series (lists of numbers)."""
    top = max([max(s) if s else 0 for s in series] + [1])
    top = max(4, -(-top // 4) * 4) if all(isinstance(v, int) for s in series for v in s) else top  # whole ticks
    pad_l, pad_b, pad_t = 36, 28, 14 + (14 if legend else 0)
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    slot = plot_w / max(len(labels), 1)
    bar = slot * 0.7 / max(len(series), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="10" {FONT}>']
    for k in range(5):
        value = top * k / 4
        y = pad_t + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="{RULE}" '
                     'stroke-width="0.5"/>'
                     f'<text x="{pad_l - 4}" y="{y + 3:.1f}" text-anchor="end" fill="{INK}">{value:.0f}</text>')
    for i, label in enumerate(labels):
        x0 = pad_l + i * slot + slot * 0.15
        for j, values in enumerate(series):
            v = values[i] if i < len(values) else 0
            h = plot_h * v / top
            x = x0 + j * bar
            parts.append(f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colours[j % len(colours)]}"/>')
            if v:
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{pad_t + plot_h - h - 2:.1f}" '
                             f'text-anchor="middle" fill="{INK}">{v}</text>')
        parts.append(f'<text x="{pad_l + i * slot + slot / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                     f'fill="{INK}">{esc(label)}</text>')
    for j, name in enumerate(legend):
        x = pad_l + j * 110
        parts.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{colours[j % len(colours)]}"/>'
                     f'<text x="{x + 14}" y="11" fill="{INK}">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rings(geometry):
    """The outer rings of a GeoJSON Polygon or MultiPolygon, as lists of (lng, lat)."""
    if not geometry:
        return []
    shape = json.loads(geometry) if isinstance(geometry, str) else geometry
    if shape.get("type") == "Polygon":
        return [shape["coordinates"][0]]
    if shape.get("type") == "MultiPolygon":
        return [poly[0] for poly in shape["coordinates"]]
    return []


def _nice_distance(metres):
    """The largest 1, 2 or 5 × 10^n metres not above metres."""
    if metres <= 0:
        return 1
    power = 10 ** math.floor(math.log10(metres))
    return max(step * power for step in (1, 2, 5) if step * power <= metres)


POINT_STYLES = {"week": (GREEN, "本周已走访"), "earlier": (AMBER, "此前走访过"), "never": (GREY, "从未走访")}


def territory_map(outline, groups=(), points=(), width=640, height=420):
    """The territory drawn from its polygon, its groups' outlines (labelled) and its customers
    as dots by status ("week", "earlier", "never"), with a north arrow and a scale bar.

    outline: a GeoJSON geometry; groups: (name, geometry); points: (lng, lat, status).
    Coordinates are WGS-84 and drawn equirectangular around the middle latitude (a county
    is small enough for that to be true to a few metres).
    """
    rings = _rings(outline)
    group_rings = [(name, ring) for name, geometry in groups for ring in _rings(geometry)]
    xs = [p[0] for r in rings for p in r] + [p[0] for _, r in group_rings for p in r] + [p[0] for p in points]
    ys = [p[1] for r in rings for p in r] + [p[1] for _, r in group_rings for p in r] + [p[1] for p in points]
    if not xs:
        return ('<p class="empty">该片区尚未绘制边界，也没有带位置的客户，无法绘图。</p>')
    lng0, lng1, lat0, lat1 = min(xs), max(xs), min(ys), max(ys)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    span_x, span_y = max((lng1 - lng0) * k, 1e-6), max(lat1 - lat0, 1e-6)
    margin = 24
    scale = min((width - 2 * margin) / span_x, (height - 2 * margin - 20) / span_y)
    left = (width - span_x * scale) / 2  # centred across the width
    bottom = height - 20 - (height - 20 - span_y * scale) / 2

    def xy(lng, lat):
        return left + (lng - lng0) * k * scale, bottom - (lat - lat0) * scale

    def path(ring):
        return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in (xy(*p[:2]) for p in ring)) + " Z"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="10" {FONT}>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfbf8" stroke="{RULE}"/>']
    for ring in rings:
        parts.append(f'<path d="{path(ring)}" fill="#eef5ee" stroke="{GREEN}" stroke-width="1.5"/>')
    for name, ring in group_rings:
        parts.append(f'<path d="{path(ring)}" fill="none" stroke="#6b8f71" stroke-width="0.8" stroke-dasharray="4 2"/>')
        cx = sum(xy(*p[:2])[0] for p in ring) / len(ring)
        cy = sum(xy(*p[:2])[1] for p in ring) / len(ring)
        parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" fill="#4a6b50">{esc(name)}</text>')
    order = {"never": 0, "earlier": 1, "week": 2}  # this week's dots drawn last, on top
    for lng, lat, status in sorted(points, key=lambda p: order.get(p[2], 0)):
        x, y = xy(lng, lat)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{POINT_STYLES[status][0]}" '
                     f'stroke="#fff" stroke-width="0.5"/>')
    # North arrow, top right.
    nx, ny = width - 30, 18
    parts.append(f'<path d="M{nx},{ny} L{nx - 7},{ny + 20} L{nx},{ny + 15} L{nx + 7},{ny + 20} Z" fill="{INK}"/>'
                 f'<text x="{nx}" y="{ny + 32}" text-anchor="middle" fill="{INK}">北</text>')
    # Scale bar, bottom left: a round distance about a quarter of the width.
    metres_per_px = 111_320 / scale
    distance = _nice_distance(metres_per_px * width / 4)
    bar_px = distance / metres_per_px
    label = f"{distance / 1000:g} 公里" if distance >= 1000 else f"{distance:g} 米"
    by = height - 14
    parts.append(f'<rect x="{margin}" y="{by - 4}" width="{bar_px:.1f}" height="4" fill="{INK}"/>'
                 f'<text x="{margin + bar_px + 6:.1f}" y="{by}" fill="{INK}">{label}</text>')
    lx = width - 250
    for i, key in enumerate(("week", "earlier", "never")):
        colour, text = POINT_STYLES[key]
        parts.append(f'<circle cx="{lx + i * 80}" cy="{by - 2}" r="4" fill="{colour}"/>'
                     f'<text x="{lx + i * 80 + 8}" y="{by + 1}" fill="{INK}">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)
