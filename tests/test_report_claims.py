"""The report as a reader scans it: the Claims' summary per question (counted here row by row, another
route than ``plots.claims_summary``'s), the rows grouped under their question in the HTML, and figure 10
legible (one title per panel, written once and whole, tick labels that do not overlap)."""

import re
from collections import Counter
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_plots import TINY, figure_tables

from shiftbench import claims, config, kernels, plots

# -- the Claims: a summary per question, then the rows grouped by question ---------------------------------------


@pytest.fixture(scope="module")
def table():
    """The Claims of the synthetic study of tests/test_plots.py, by claims.claims_table itself."""
    return claims.claims_table(figure_tables(), config.load_config(TINY))


def hand_table():
    """Rows with known verdicts, the questions interleaved and one question ("families") left without rows."""
    rows = [
        ("width", "supported"), ("width", "contradicted"), ("width", "inconclusive"), ("phases", "underpowered"),
        ("phases", "no data"), ("phases", "supported"), ("phases", "supported"), ("reference", "not supported"),
        ("best-init", "measured"), ("health", "count"), ("methods", "no data"), ("methods", "contradicted"),
    ]  # fmt: skip
    return pd.DataFrame(
        [(f"claim {i} <&>", v, f"evidence {i}", q) for i, (q, v) in enumerate(rows)],
        columns=["claim", "verdict", "evidence", "question"],
    )


class Sections(HTMLParser):
    """The claims HTML read back: the summary's rows (its cells' text) and, per h3 section, the rows of its table."""

    def __init__(self):
        super().__init__()
        self.tables, self.headings, self.cell, self.row, self.in_h3 = [], [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"heading": self.headings[-1] if self.headings else None, "rows": []})
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "h3":
            self.in_h3 = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr":
            self.tables[-1]["rows"].append(self.row)
        elif tag == "h3":
            self.in_h3 = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.in_h3:
            self.headings[-1] += data


def read_back(text):
    parser = Sections()
    parser.feed(text)
    return parser


@pytest.mark.parametrize("source", ["hand", "claims_table"])
def test_claims_summary_counts_equal_the_rows_verdicts_per_question(source, table):
    """Per question, each verdict's count in the summary (returned and printed) against a count made row by
    row here; the question's row numbers point at its rows; every row is printed once, under its question."""
    t = hand_table() if source == "hand" else table
    counted = Counter((r.question, r.verdict) for r in t.itertuples())
    numbers = {}
    for i, q in enumerate(t.question, 1):
        numbers.setdefault(q, []).append(i)
    summary = plots.claims_summary(t).set_index("question")
    assert list(summary.index) == [q for q in claims.QUESTIONS if q in numbers]  # the registry's order
    for q in numbers:
        for verdict in plots.VERDICTS:
            assert summary.loc[q, verdict] == counted[(q, verdict)], (q, verdict)
        others = sum(n for (q2, v), n in counted.items() if q2 == q and v not in plots.VERDICTS)
        assert summary.loc[q, "other"] == others and summary.loc[q, "rows"] == len(numbers[q])
        assert (summary.loc[q, "first"], summary.loc[q, "last"]) == (min(numbers[q]), max(numbers[q]))

    page = read_back(plots.claims_html(t, "Claims", "intro"))
    head, *printed = page.tables[0]["rows"]
    assert head == ["question", "rows", *plots.VERDICTS, "other"]
    assert [r[0] for r in printed] == [claims.QUESTIONS[q] for q in summary.index]
    for row, q in zip(printed, summary.index):
        assert [int(x) for x in row[2:]] == [counted[(q, v)] for v in plots.VERDICTS] + [summary.loc[q, "other"]]
        assert int(row[1].split()[0]) == len(numbers[q])
    sections = page.tables[1:]
    assert len(sections) == len(summary)
    seen = []
    for section, q in zip(sections, summary.index):
        assert section["heading"].endswith(claims.QUESTIONS[q])
        body = section["rows"][1:]
        assert [int(r[0]) for r in body] == numbers[q]  # its rows, in the table's order, numbered as summarised
        assert Counter(r[2] for r in body) == Counter({v: n for (q2, v), n in counted.items() if q2 == q})
        seen += [(int(r[0]), r[1]) for r in body]
    assert sorted(seen) == [(i, c) for i, c in enumerate(t.claim, 1)]  # every row once, its text unescaped


def test_every_claim_answers_the_question_it_belongs_to(table):
    """The question of each row, from its claim's own words (another route than claims_table's sections)."""
    assert set(table.question) <= set(claims.QUESTIONS) and table.question.notna().all()
    words = [
        ("Width of the filter", "width"), ("Regularly spaced phases", "phases"), ("lowest loss, cell by cell",
        "best-init"), ("reaches the reference", "reference"), ("is below the reference", "reference"),
        ("recovers more than", "methods"), ("poles capture more", "families"), ("gain is constant", "families"),
        ("Diverged or numerically failed", "health"),
    ]  # fmt: skip
    for row in table.itertuples():
        expected = {q for w, q in words if w in row.claim}
        assert expected == {row.question}, row.claim
    assert {"width", "phases", "best-init", "reference", "methods", "families", "health"} <= set(table.question)


# -- figure 10: legible ------------------------------------------------------------------------------------------


def kernel_scores(targets=("exp-0.9", "power-10", "bump-2", "bump-4"), S=(4, 8, 16, 32, 64), rhos=(0.0, 0.7)):
    """Scores of the shape kernels.tables returns: a random rule at 3 seeds, two deterministic ones at one."""
    rng = np.random.default_rng(0)
    rows = [
        {"target": t, "S": s, "rho": rho, "K_scale": 32, "init": init, "family": "real", "seed": seed,
         "init_loss": 0.5, "reference": 0.1, "recovered_at_init": rng.uniform(0.1, 0.95)}
        for t in targets for s in S for rho in rhos
        for init, seeds in [("real-ring", 3), ("post-geometric", 1), ("uncertainty-with-a-long-name", 1)]
        for seed in range(seeds)
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=kernels.COLUMNS)


def drawn_figure10(scores, tmp_path, monkeypatch):
    """kernels.figure's matplotlib figure (plots._save captured; a figure it saved itself is the last open one)."""
    captured = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: captured.append(fig))
    kernels.figure(scores, tmp_path / "fig10_kernels_at_init.png")
    fig = captured[0] if captured else plt.figure(plt.get_fignums()[-1])
    fig.canvas.draw()
    return fig


def overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


def test_figure_10_titles_each_panel_once_and_whole(tmp_path, monkeypatch):
    scores = kernel_scores()
    fig = drawn_figure10(scores, tmp_path, monkeypatch)
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in panels]
    assert len(panels) == scores[["target", "rho"]].drop_duplicates().shape[0]
    assert len(set(titles)) == len(titles)  # one panel per (target, rho)
    for title in titles:
        assert not re.search(r"\b(\w+) = \1 =", title), title  # no "rho = rho = 0.7"
        assert title.count("rho =") == 1
        assert any(title.startswith(t) for t in scores.target.unique())
    boxes = [ax.title.get_window_extent(renderer) for ax in panels]
    width = fig.get_window_extent(renderer).x1
    for i, box in enumerate(boxes):
        assert box.x0 >= 0 and box.x1 <= width, titles[i]  # not cut off at the figure's edge
        assert not any(overlap(box, other) for other in boxes[i + 1 :]), titles[i]  # nor by a neighbour
    plt.close(fig)


def test_figure_10_labels_its_log_axis_at_the_study_s_only(tmp_path, monkeypatch):
    scores = kernel_scores()
    fig = drawn_figure10(scores, tmp_path, monkeypatch)
    renderer = fig.canvas.get_renderer()
    for ax in (ax for ax in fig.axes if ax.get_visible()):
        labels = [t for t in ax.get_xticklabels(which="both") if t.get_visible() and t.get_text()]
        assert [t.get_text() for t in labels] == [f"{s:g}" for s in sorted(scores.S.unique())]
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    plt.close(fig)
