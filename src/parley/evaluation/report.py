"""The arena report: PNG plots and one HTML page a researcher can open."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

import jinja2
import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or CI
import matplotlib.pyplot as plt  # noqa: E402

from parley.evaluation.bargain_metrics import GROUPS, METRICS  # noqa: E402
from parley.rollout.bargain import BargainEpisode  # noqa: E402

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("parley.evaluation", "templates"), autoescape=jinja2.select_autoescape(["html"])
)


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def plot_prices(episodes: Sequence[BargainEpisode], path: Path) -> str:
    """Each deal's price on the scale floor=0, budget=1, ordered by episode; no-deals marked."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    xs, ys, colors = [], [], []
    def span(s) -> float:  # a CI scenario has budget < floor; its points fall below 0 and the scale stays finite
        return max(abs(s.budget - s.floor), 0.01)

    for i, e in enumerate(episodes):
        s = e.scenario
        if e.outcome.deal:
            xs.append(i)
            ys.append((e.outcome.price - s.floor) / span(s))
            colors.append("tab:red" if e.outcome.price > s.budget else "tab:blue")
    ax.axhspan(0, 1, color="tab:green", alpha=0.08, label="zone of agreement")
    ax.axhline(0, color="tab:green", lw=1, label="seller floor")
    ax.axhline(1, color="tab:orange", lw=1, label="buyer budget")
    listing = [((e.scenario.listing_price - e.scenario.floor) / span(e.scenario)) for e in episodes]
    ax.scatter(range(len(episodes)), listing, marker="_", color="grey", label="listing price")
    ax.scatter(xs, ys, c=colors, zorder=3, label="deal price")
    nodeal = [i for i, e in enumerate(episodes) if not e.outcome.deal]
    ax.scatter(nodeal, [-0.15] * len(nodeal), marker="x", color="black", label="no deal")
    ax.set_xlabel("episode")
    ax.set_ylabel("(price - floor) / |budget - floor|")
    ax.set_title("Deal price relative to budget and floor")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _save(fig, path)


def plot_surplus(episodes: Sequence[BargainEpisode], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist([e.buyer_reward for e in episodes], bins=[-1.05 + 0.1 * i for i in range(22)], color="tab:blue", alpha=0.8, label="buyer")
    ax.hist([e.seller_reward for e in episodes], bins=[-1.05 + 0.1 * i for i in range(22)], color="tab:orange", alpha=0.5, label="seller")
    ax.set_xlabel("surplus (reward)")
    ax.set_ylabel("episodes")
    ax.set_title("Surplus distribution (no deal = 0, over budget = -1)")
    ax.legend()
    return _save(fig, path)


def plot_rounds(episodes: Sequence[BargainEpisode], path: Path, max_turns: int) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = [b + 0.5 for b in range(max_turns + 1)]
    ax.hist([e.outcome.turns for e in episodes if e.outcome.deal], bins=bins, color="tab:green", label="deal")
    ax.hist([e.outcome.turns for e in episodes if not e.outcome.deal], bins=bins, color="grey", alpha=0.6, label="no deal")
    ax.set_xlabel("turns until the episode ended")
    ax.set_ylabel("episodes")
    ax.set_title("Rounds to agreement")
    ax.legend()
    return _save(fig, path)


def plot_categories(summary: dict, path: Path) -> str:
    cats = list(summary["agreement_rate_by_category"])
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(cats) + 1.2))
    ax.barh(cats, [summary["agreement_rate_by_category"][c] for c in cats], color="tab:purple")
    for i, c in enumerate(cats):
        rate = summary["agreement_rate_by_category"][c]
        ax.text(min(rate, 0.85) + 0.01, i, f"{rate:.2f} (n={summary['episodes_by_category'][c]})", va="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("agreement rate")
    ax.set_title("Agreement rate per product category")
    return _save(fig, path)


def write_report(out: Path, episodes: Sequence[BargainEpisode], summary: dict, meta: dict) -> Path:
    plots = {
        "prices": plot_prices(episodes, out / "price_vs_budget_floor.png"),
        "surplus": plot_surplus(episodes, out / "surplus.png"),
        "rounds": plot_rounds(episodes, out / "rounds.png", meta["protocol"]["max_turns"]),
        "categories": plot_categories(summary, out / "agreement_by_category.png"),
    }
    page = _TEMPLATES.get_template("arena.html").render(
        meta=meta, summary=summary, plots=plots, episodes=episodes[:20], total=len(episodes),
        meta_json=json.dumps(meta, indent=2), escape=html.escape, metric_keys=METRICS, metric_groups=GROUPS,
    )
    path = out / "report.html"
    path.write_text(page)
    return path
