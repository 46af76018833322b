"""The report's figures, drawn with matplotlib's object API (no pyplot, no global
backend): each function returns PNG bytes. Only counts and scores are drawn."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from linkage.errors import ConfigError

try:
    import matplotlib as mpl
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LinearSegmentedColormap, LogNorm
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter
except ImportError:  # pragma: no cover - exercised only without the report extra
    raise ConfigError(
        "linkage-admin report needs matplotlib: pip install 'coresponder-linkage[report]'"
    ) from None

from linkage.probabilistic import FellegiSunterModel
from linkage.report._activity import METRICS, Activity
from linkage.report._evaluate import QualityEvidence
from linkage.report._overlap import LinkOverlap
from linkage.report._probabilistic import SCORE_DICE, WeightHistogram
from linkage.report._quality import Confusion
from linkage.report._threshold import ScoreHistogram

__all__ = [
    "AGENCY_COLOURS",
    "Thresholds",
    "activity_chart",
    "best_match_chart",
    "confusion_chart",
    "link_size_chart",
    "model_chart",
    "overlap_chart",
    "quality_chart",
    "weight_chart",
]

INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
NON_MATCH = "#9aa5b1"
MATCH = "#0f8b8d"
SUGGESTED = "#e8833a"
CHOSEN = "#7c5cbf"
NEGATIVE = "#c94c6e"
AGENCY_COLOURS = (
    "#3b6fb6",
    "#e07b39",
    "#3aa17e",
    "#c94c6e",
    "#8a63b8",
    "#b8912f",
    "#4ba3c3",
    "#6b7280",
    "#9c6644",
    "#2f855a",
)
_DPI = 144
_STYLE: Any = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.edgecolor": "#cbd2d9",
    "axes.labelcolor": INK,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.titlelocation": "left",
    "axes.titlepad": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "legend.frameon": False,
    "figure.facecolor": "white",
}


def _thousands(value: float, _position: object = None) -> str:
    return f"{value:,.0f}"


def _count(value: float) -> str:
    """A count that fits a cell: ``1,234,567``, ``12.3 million``, ``366.5 billion``."""
    for size, word in ((1e9, "billion"), (1e7, "million")):
        if abs(value) >= size:
            return f"{value / (size if word == 'billion' else 1e6):,.1f} {word}"
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-6 else f"{value:,.1f}"


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with mpl.rc_context(_STYLE):
        figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def agency_colour(index: int) -> str:
    return AGENCY_COLOURS[index % len(AGENCY_COLOURS)]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The thresholds a chart marks: the one in force, a suggested one and an evaluated
    override, with the words their legend uses (Dice: "configured" and the histogram's
    valley; probabilistic: "in force" and the model's own suggestion)."""

    configured: float
    suggested: float | None
    chosen: float
    configured_words: str = "configured threshold"
    suggested_words: str = "(valley)"

    @classmethod
    def of(cls, configured: float, suggested: float | None, chosen: float, kind: str) -> Thresholds:
        if kind == SCORE_DICE:
            return cls(configured, suggested, chosen)
        return cls(configured, suggested, chosen, "threshold in force", "(the model's)")


def _threshold_lines(
    ax: Axes, lines: Thresholds, to_x: Callable[[float], float] = lambda t: t
) -> list[Line2D]:
    """Vertical lines at the configured, suggested and evaluated thresholds (``to_x``
    places a threshold on the x axis); returns their legend handles (labels in a legend
    never collide when thresholds are close)."""
    configured, chosen = lines.configured, lines.chosen
    handles = [
        ax.axvline(
            to_x(configured), color=INK, linestyle="--", linewidth=1.6, zorder=5,
            label=f"{lines.configured_words} {configured:.2f}",
        )
    ]  # fmt: skip
    if lines.suggested is not None:
        handles.append(
            ax.axvline(
                to_x(lines.suggested), color=SUGGESTED, linestyle=":", linewidth=2.4, zorder=5,
                label=f"suggested {lines.suggested:.3f} {lines.suggested_words}",
            )
        )  # fmt: skip
    if abs(chosen - configured) > 1e-9:
        handles.append(
            ax.axvline(
                to_x(chosen), color=CHOSEN, linestyle="-.", linewidth=1.6, zorder=5,
                label=f"evaluated {chosen:.2f}",
            )
        )  # fmt: skip
    return handles


def best_match_chart(
    histogram: ScoreHistogram, lines: Thresholds, *, estimated: bool, kind: str = SCORE_DICE
) -> bytes:
    """Records by the score of their best match (Dice: in another agency; probabilistic:
    their best candidate pair, match probabilities on a log scale)."""
    probabilistic = kind != SCORE_DICE
    with _figure(10, 4.4) as figure:
        ax = figure.add_subplot()
        centers, width = histogram.centers, histogram.width
        above = centers >= lines.configured
        ax.bar(
            centers[~above],
            histogram.counts[~above],
            width=width * 0.92,
            color=NON_MATCH,
            label="below the threshold: stays unlinked",
        )
        ax.bar(
            centers[above],
            histogram.counts[above],
            width=width * 0.92,
            color=MATCH,
            label="at or above: linked"
            + (" (one record per agency)" if not probabilistic else " (clustering decides)"),
        )
        if histogram.counts.max(initial=0) > 0 and not probabilistic:
            # A light smoothed outline helps the eye find the two modes.
            kernel = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
            smooth = np.convolve(histogram.counts, kernel / kernel.sum(), mode="same")
            ax.plot(centers, smooth, color=INK, linewidth=1.0, alpha=0.45)
        _threshold_lines(ax, lines)
        ax.set_xlim(histogram.edges[0], 1.0)
        if probabilistic:
            ax.set_xlabel("match probability of each record's best candidate pair")
            if histogram.counts.max(initial=0) > 0:
                ax.set_yscale("log")
            ax.set_ylabel("records (log scale)")
            if histogram.below_floor > 0:
                ax.text(
                    0.99, 0.97, f"{histogram.below_floor:,.0f} records have no candidate pair",
                    transform=ax.transAxes, ha="right", va="top", fontsize=9, color=MUTED,
                )  # fmt: skip
            ax.set_title("Best match probability per record")
        else:
            ax.set_xlabel("Dice similarity of each record's best match in another agency")
            ax.set_ylabel("records (estimated)" if estimated else "records")
            ax.set_title("Best-match similarity per record")
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        if probabilistic:
            # Bars pile up at both ends: the legend goes below the chart.
            figure.legend(loc="outside lower center", ncols=2, fontsize=9)
        else:
            ax.legend(loc="upper left", fontsize=9)
        ax.grid(axis="x", visible=False)
        return _png(figure)


def _probability_weight(probability: float) -> float:
    p = min(max(probability, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))


def weight_chart(histogram: WeightHistogram, lines: Thresholds) -> bytes:
    """Candidate pairs by match weight (log2 of the odds that they are one person)."""
    with _figure(10, 4.2) as figure:
        ax = figure.add_subplot()
        centers, width = histogram.centers, histogram.width
        ax.bar(
            centers, histogram.below, width=width * 0.92, color=NON_MATCH,
            label="below the threshold: no edge",
        )  # fmt: skip
        ax.bar(
            centers, histogram.above, width=width * 0.92, color=MATCH,
            label="at or above: an edge of the link graph",
        )  # fmt: skip
        if histogram.total > 0:
            ax.set_yscale("log")
        _threshold_lines(ax, lines, _probability_weight)
        ax.set_xlim(float(histogram.edges[0]), float(histogram.edges[-1]))
        ax.set_xlabel("match weight of each candidate pair (bits: log2 of the match odds)")
        ax.set_ylabel("candidate pairs (log scale)")
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.grid(axis="x", visible=False)
        figure.legend(loc="outside lower center", ncols=2, fontsize=9)
        ax.set_title("Match weights of the candidate pairs")
        return _png(figure)


def model_chart(model: FellegiSunterModel) -> bytes:
    """The fitted model as Splink draws its match weights: the prior (the weight of two
    random records) and one bar per comparison level, grouped by comparison."""
    groups: list[tuple[str, tuple[str, ...], tuple[float, ...]]] = [
        ("prior (two random records)", ("match rate",), (model.prior_weight,))
    ]
    for comparison, row in zip(model.comparisons, model.level_weights(), strict=True):
        name = comparison.segment.replace("_", " ")
        if comparison.term_frequency:
            name += " (term frequency)"
        groups.append((name, comparison.level_labels(), row))
    # Two columns with about the same number of bars.
    total = sum(len(g[1]) + 1 for g in groups)
    columns: list[list[int]] = [[], []]
    filled = 0
    for index, group in enumerate(groups):
        columns[0 if filled < total / 2 else 1].append(index)
        filled += len(group[1]) + 1
    everything = [w for g in groups for w in g[2]]
    low = min(0.0, min(everything)) - 3.0
    high = max(0.0, max(everything)) + 3.0
    rows = max(sum(len(groups[i][1]) + 1.4 for i in column) for column in columns)
    with _figure(11, max(4.0, 0.27 * rows + 1.2)) as figure:
        outer = figure.add_gridspec(1, 2, wspace=0.08)
        for side, column in enumerate(columns):
            if not column:
                continue
            inner = outer[side].subgridspec(
                len(column), 1, height_ratios=[len(groups[i][1]) + 0.4 for i in column]
            )
            for position, index in enumerate(column):
                title, labels, weights = groups[index]
                ax = figure.add_subplot(inner[position])
                y = np.arange(len(labels))
                colours = [MATCH if w >= 0 else NEGATIVE for w in weights]
                if index == 0:
                    colours = [MUTED]
                ax.barh(y, weights, color=colours, height=0.7)
                for yy, w in zip(y.tolist(), weights, strict=True):
                    ax.text(
                        w + (0.25 if w >= 0 else -0.25), yy, f"{w:+.1f}", va="center",
                        ha="left" if w >= 0 else "right", fontsize=7.5, color=INK,
                    )  # fmt: skip
                ax.set_yticks(y, labels, fontsize=8)
                ax.invert_yaxis()
                ax.set_xlim(low, high)
                ax.axvline(0, color=INK, linewidth=0.8)
                ax.grid(axis="y", visible=False)
                ax.set_title(title, fontsize=9.5, pad=3)
                last = position == len(column) - 1
                ax.tick_params(axis="x", labelbottom=last, labelsize=8)
                if last:
                    ax.set_xlabel("match weight (bits: log2 of m / u)", fontsize=9)
        figure.suptitle("Match weights of the fitted model", x=0.01, ha="left", fontweight="bold")
        return _png(figure)


def _placeholder(title: str, text: str, width: float, height: float) -> bytes:
    """A titled, empty chart saying why it is empty (a fresh matcher has no data yet)."""
    with _figure(width, height) as figure:
        ax = figure.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=MUTED)
        return _png(figure)


def overlap_chart(overlap: LinkOverlap) -> bytes:
    """Links joining each pair of agencies (diagonal: the agency's records in links)."""
    n = len(overlap.agencies)
    if n == 0:
        return _placeholder("Overlap between agencies", "no agency enrolled yet", 4.6, 4.0)
    size = max(4.6, 1.1 * n + 2.4)
    with _figure(size, size * 0.86) as figure:
        ax = figure.add_subplot()
        values = overlap.shared.astype(np.float64)
        masked = np.ma.masked_array(values, mask=np.eye(n, dtype=bool))
        cmap = LinearSegmentedColormap.from_list("overlap", ["#f0f7f7", "#5fb3b3", "#0b5d5e"])
        peak = float(masked.max()) if masked.count() else 1.0
        image = ax.imshow(masked, cmap=cmap, vmin=0, vmax=max(peak, 1.0))
        ax.set_xticks(range(n), overlap.agencies, rotation=30, ha="right")
        ax.set_yticks(range(n), overlap.agencies)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        for i in range(n):
            for j in range(n):
                if i == j:
                    total = int(overlap.records[i])
                    linked = int(overlap.linked_records[i])
                    share = linked / total if total else 0.0
                    ax.add_patch(
                        mpl.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, color="#f5f7fa", zorder=1)
                    )
                    ax.text(
                        j,
                        i,
                        f"{linked:,} of {total:,}\nlinked ({share:.0%})",
                        ha="center",
                        va="center",
                        fontsize=8.5,
                        color=MUTED,
                        zorder=2,
                    )
                    continue
                dark = values[i, j] > 0.55 * max(peak, 1.0)
                ax.text(
                    j,
                    i,
                    f"{int(values[i, j]):,}",
                    ha="center",
                    va="center",
                    fontsize=11,
                    fontweight="bold",
                    color="white" if dark else INK,
                )
        bar = figure.colorbar(image, ax=ax, shrink=0.8, format=FuncFormatter(_thousands))
        bar.outline.set_visible(False)
        bar.set_label("links joining the two agencies")
        ax.set_title("Overlap between agencies")
        return _png(figure)


def _size_label(size: int, last: int) -> str:
    return f"{size}+" if size == last else f"{size}"


def link_size_chart(overlap: LinkOverlap, *, max_shown: int = 5) -> bytes:
    """For each agency pair, its links stacked by how many records they hold."""
    n = len(overlap.agencies)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    labels = [f"{overlap.agencies[i]} + {overlap.agencies[j]}" for i, j in pairs]
    last = max(2, min(max_shown, overlap.max_size))
    sizes = list(range(2, last + 1))
    rows = np.zeros((len(pairs), len(sizes)), dtype=np.int64)
    for row, (i, j) in enumerate(pairs):
        counts = overlap.sizes[i, j]
        for column, s in enumerate(sizes):
            rows[row, column] = (
                counts[s:].sum() if s == last else (counts[s] if s < counts.shape[0] else 0)
            )
    if not pairs:
        return _placeholder(
            "Link sizes per agency pair", "links need two agencies; fewer are enrolled", 6.6, 3.0
        )
    order = np.argsort(-rows.sum(axis=1), kind="stable")
    palette = ["#0f8b8d", "#4fb0a5", "#f2b134", "#e8833a", "#c94c6e"]
    height = max(3.0, 0.42 * len(pairs) + 1.9)
    with _figure(6.6, height) as figure:
        ax = figure.add_subplot()
        left = np.zeros(len(pairs))
        for column, s in enumerate(sizes):
            values = rows[order, column]
            ax.barh(
                np.arange(len(pairs)),
                values,
                left=left,
                color=palette[column % len(palette)],
                label=_size_label(s, last),
                height=0.68,
            )
            left += values
        for y, total in enumerate(left):
            ax.text(total, y, f"  {int(total):,}", va="center", fontsize=9, color=INK)
        ax.set_yticks(np.arange(len(pairs)), [labels[i] for i in order])
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.set_xlim(0, max(1.0, float(left.max(initial=0))) * 1.12)
        ax.set_xlabel("links holding records of both agencies")
        ax.grid(axis="y", visible=False)
        # Below the bars: above them a wide legend ran into the title.
        figure.legend(
            loc="outside lower center",
            ncols=len(sizes),
            fontsize=9,
            title="link size (records)",
            title_fontsize=9,
        )
        ax.set_title("Link sizes per agency pair")
        return _png(figure)


def activity_chart(activity: Activity, agencies: Sequence[str]) -> bytes:
    """Four weekly series, stacked by agency: records, links, lookups, disclosures."""
    colour = {name: agency_colour(i) for i, name in enumerate(agencies)}
    extra = [a for a in activity.agencies if a not in colour]
    for k, name in enumerate(extra):
        colour[name] = ["#52606d", "#bcccdc", "#829ab1"][k % 3]
    n_weeks = len(activity.weeks)
    x = np.arange(n_weeks)
    step = max(1, -(-n_weeks // 7))
    tick_labels = [activity.weeks[i].strftime("%d %b\n%Y") for i in range(0, n_weeks, step)]
    with _figure(11, 6.6) as figure:
        axes = figure.subplots(2, 2, sharex=True)
        for ax, (metric, title) in zip(axes.ravel(), METRICS, strict=True):
            series = activity.counts.get(metric, {})
            names = [a for a in activity.agencies if a in series]
            bottom = np.zeros(n_weeks)
            for name in names:
                values = np.array(series[name], dtype=np.float64)
                ax.bar(x, values, bottom=bottom, width=0.8, color=colour[name], label=name)
                bottom += values
            total = int(bottom.sum())
            ax.set_title(f"{title}  ·  {total:,} in all", fontsize=11)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
            ax.grid(axis="x", visible=False)
            ax.set_xticks(x[::step], tick_labels)
            ax.set_xlim(-0.6, max(n_weeks, 1) - 0.4)
            if total == 0:
                ax.text(0.5, 0.5, "none yet", transform=ax.transAxes, ha="center", color=MUTED)
        for ax in axes[1]:
            ax.set_xlabel("week starting (UTC)")
        handles = [Patch(color=colour[a], label=a) for a in activity.agencies]
        if handles:
            figure.legend(
                handles=handles, loc="outside upper center", ncols=min(len(handles), 6), fontsize=9
            )
        return _png(figure)


def quality_chart(evidence: QualityEvidence, lines: Thresholds, kind: str = SCORE_DICE) -> bytes:
    """Precision, recall and F1 against the threshold."""
    sweep = evidence.sweep
    with _figure(10, 4.8) as figure:
        ax = figure.add_subplot()
        ax.plot(
            sweep.thresholds, sweep.precision, color="#3b6fb6", linewidth=2.2, label="precision"
        )
        ax.plot(sweep.thresholds, sweep.recall, color="#e07b39", linewidth=2.2, label="recall")
        ax.plot(sweep.thresholds, sweep.f1, color=MATCH, linewidth=2.6, label="F1")
        handles = list(ax.get_legend_handles_labels()[0])
        best = sweep.best_f1()
        if best is not None:
            handles.append(
                ax.scatter(
                    [best[0]],
                    [best[1]],
                    s=60,
                    color=MATCH,
                    edgecolor="white",
                    zorder=7,
                    label=f"best F1 {best[1]:.3f} at {best[0]:.3f}",
                )
            )
        lo = float(sweep.thresholds.min()) if sweep.thresholds.size else 0.0
        low_y = np.nanmin(np.concatenate([sweep.precision, sweep.recall, sweep.f1, [1.0]]))
        handles += _threshold_lines(ax, lines)
        ax.set_xlim(lo, 1.0)
        ax.set_ylim(max(0.0, min(0.9, float(low_y)) - 0.05), 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        score = "Dice score" if kind == SCORE_DICE else kind
        ax.set_xlabel(f"threshold (a pair is linked when its {score} is at or above it)")
        ax.set_title(f"Precision, recall and F1 against the threshold ({evidence.source})")
        figure.legend(
            handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=9
        )
        return _png(figure)


def _matrix(ax: Axes, confusion: Confusion, title: str) -> None:
    cells = np.array(
        [
            [confusion.true_positive, confusion.false_negative],
            [confusion.false_positive, confusion.true_negative],
        ]
    )
    shown = np.maximum(cells, 0.5)
    cmap = LinearSegmentedColormap.from_list("cm", ["#f5f7fa", "#9fd3c7", "#0f8b8d"])
    ax.imshow(shown, cmap=cmap, norm=LogNorm(vmin=0.5, vmax=max(1.0, float(shown.max()))))
    names = [["true match", "missed match"], ["false match", "true non-match"]]
    for i in range(2):
        for j in range(2):
            dark = cells[i, j] > 0 and np.log(shown[i, j]) > 0.6 * np.log(float(shown.max()))
            value = cells[i, j]
            text = _count(value)
            ax.text(j, i - 0.08, text, ha="center", va="center", fontsize=14,
                    fontweight="bold", color="white" if dark else INK)  # fmt: skip
            ax.text(j, i + 0.22, names[i][j], ha="center", va="center", fontsize=9,
                    color="white" if dark else MUTED)  # fmt: skip
    ax.set_xticks([0, 1], ["linked", "not linked"])
    ax.set_yticks([0, 1], ["same person", "different people"])
    ax.xaxis.set_ticks_position("top")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=11, pad=28)


def confusion_chart(evidence: QualityEvidence) -> bytes:
    """The confusion matrix at the evaluated threshold (and of the links held)."""
    panels = [(evidence.chosen, f"score ≥ {evidence.chosen.threshold:.3f}")]
    if evidence.linked is not None:
        panels.append((evidence.linked, "links the matcher holds"))
    with _figure(4.6 * len(panels) + 0.6, 4.4) as figure:
        axes = np.atleast_1d(figure.subplots(1, len(panels)))
        for ax, (confusion, title) in zip(axes, panels, strict=True):
            _matrix(ax, confusion, title)
            ax.set_xlabel(
                f"precision {confusion.precision:.3f} · recall {confusion.recall:.3f}"
                f" · F1 {confusion.f1:.3f}",
                fontsize=9.5,
                color=INK,
            )
        figure.suptitle(
            f"Confusion matrix ({evidence.source})", x=0.02, ha="left", fontweight="bold"
        )
        return _png(figure)
