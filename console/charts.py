"""Server-rendered SVG charts: the geometry of each bar, computed here; the templates draw it (no JavaScript, every
number written in the picture and each bar a link)."""

from dataclasses import dataclass

# One colour per status and per event type, the same on every page.
STATUS_COLOURS = {
    "NO_IDENTITY": "#9e9e9e",
    "ACTIVE": "#2e7d32",
    "RENEWAL_WINDOW": "#f9a825",
    "ABOUT_TO_EXPIRE": "#ef6c00",
    "EXPIRED": "#c62828",
    "REVOKED": "#6a1b9a",
    "DECOMMISSIONED": "#37474f",
}
PALETTE = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#9e9d24", "#5d4037", "#ad1457"]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    url: str
    x: float
    y: float
    width: float
    height: float
    colour: str
    figure: str  # names the figure for tests and tools: "status:ACTIVE"

    @property
    def text(self) -> str:
        return f"{self.value:,}"

    # Where a horizontal bar's label (left of it), value (right of it) and their baseline go.
    @property
    def label_x(self) -> float:
        return self.x - 8

    @property
    def value_x(self) -> float:
        return self.x + self.width + 6

    @property
    def text_y(self) -> float:
        return self.y + self.height / 2 + 4


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, float, str, str]] = ()  # axis labels: (x, y, text, text-anchor)


def horizontal_bars(items: list[tuple[str, int, str, str, str]], width: int = 520, row: int = 24) -> Chart:
    """One bar per (label, value, url, colour, figure), longest for the largest value; label left, value right."""
    label_width, value_width = 150, 80
    largest = max((value for _, value, *_ in items), default=0) or 1
    room = width - label_width - value_width
    bars = [
        Bar(label, value, url, label_width, index * row + 3, max(1.0, room * value / largest) if value else 0,
            row - 8, colour, figure)
        for index, (label, value, url, colour, figure) in enumerate(items)
    ]  # fmt: skip
    return Chart(width, max(row, row * len(items)), bars)


def stacked_columns(
    columns: list[str], series: list[tuple[str, str]], values: dict, url, width: int = 900, height: int = 220
) -> Chart:
    """One column per entry of `columns` (x), stacked by `series` ((name, colour)), `values[(column, name)]` high;
    `url(column, name)` for each part. Every fifth column is labelled below; the numbers are in each part's title
    and in the table beside the chart."""
    top, bottom = 16, 34
    totals = [sum(values.get((column, name), 0) for name, _ in series) for column in columns]
    largest = max(totals, default=0) or 1
    step = width / max(1, len(columns))
    scale = (height - top - bottom) / largest
    bars, labels = [], []
    for index, column in enumerate(columns):
        y = height - bottom
        for name, colour in series:
            value = values.get((column, name), 0)
            if value:
                part = max(1.0, value * scale)
                y -= part
                bars.append(Bar(f"{column} {name}", value, url(column, name), index * step + 2, y, step - 4, part,
                                colour, f"events:{column}:{name}"))  # fmt: skip
        if index % 5 == 0 or index == len(columns) - 1:
            last = index == len(columns) - 1
            x = (index + 1) * step if last else index * step + step / 2
            labels.append((x, height - bottom + 14, column[5:], "end" if last else "middle"))
    return Chart(width, height, bars, labels)
