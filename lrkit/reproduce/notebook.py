"""What the table notebooks (``notebooks/``) share: where a table's rows come from, and the paper's points
checked on them as lines to print.

:class:`TableView` opens a table at a profile. A profile whose runs are committed
(``reproductions/results/<table>-<profile>-<device>/``) is read from there: nothing is trained and
nothing committed is written. Any other profile goes through :func:`~lrkit.reproduce.reproduce` into
``out/<table>-<profile>/`` (``out/`` is not committed): it shows the stored runs and lists the other rows
as "not run", or trains them when asked (the notebooks ask on ``quick``). Where the table's data set is
absent the view shows the paper's whole table.

The checks are pure functions of a results document's rows (``doc["table"]``: the dicts of
:func:`~lrkit.reproduce.report.summarise`) that return the lines a notebook prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from lrkit.reproduce.recipe import Recipe, get_recipe, recipes_dir
from lrkit.reproduce.report import rank_correlation


@dataclass(frozen=True)
class TableView:
    """A reproduced table as a notebook shows it.

    ``results``: the committed results (default ``reproductions/results``); ``out``: where tables made
    here go (default ``out/`` beside ``reproductions/``)."""

    recipe: Recipe
    profile: str
    device: str = "cpu"
    results: Path | None = None
    out: Path | None = None

    @classmethod
    def open(cls, table: str, profile: str, device: str | None = None, results=None, out=None) -> TableView:
        """The view of recipe ``table`` (an id of :func:`~lrkit.reproduce.list_recipes`) at ``profile``, on
        ``device`` (default ``$LRKIT_DEVICE``, else ``cpu``)."""
        recipe = get_recipe(table)
        if profile not in recipe.profiles:
            raise ValueError(f"{table}: profile must be one of {', '.join(recipe.profiles)}, got {profile!r}")
        root = recipes_dir()
        return cls(recipe, profile, device or os.environ.get("LRKIT_DEVICE") or "cpu",
                   Path(results) if results else root / "results", Path(out) if out else root.parent / "out")

    def folder(self, profile: str | None = None) -> Path:
        """Where the committed runs of ``profile`` (default: this view's) are, or would be."""
        return self.results / f"{self.recipe.id}-{profile or self.profile}-{self.device.split(':')[0]}"

    def committed(self, profile: str | None = None) -> dict | None:
        """The committed results document of ``profile`` (default: this view's), or None."""
        from lrkit.reproduce.runner import load_results

        path = self.folder(profile) / "results.json"
        return load_results(path) if path.is_file() else None

    @property
    def data(self) -> tuple[bool, str]:
        """(whether the table's data set is here, a line saying where it was looked for)."""
        from lrkit.train.data import data_present

        return data_present(self.recipe.task["dataset"])

    def describe(self, train_missing: bool = False) -> str:
        """The title, profile, device, where the table is read from, the data, and the runs of the profile."""
        shown, checkout = self._shown_from(train_missing), recipes_dir().parent
        if shown.is_relative_to(checkout):  # the checkout's own folders, named as in the repository
            shown = shown.relative_to(checkout)
        lines = [f"{self.recipe.title} | profile: {self.profile} | device: {self.device} | results in {shown}", self.data[1]]
        for run in self.recipe.runs(self.profile):
            cfg = run["config"]
            lines.append(f"{cfg['policy'][:90]:<90} {cfg['optimizer']:<9} iters {cfg['iters']}")
        return "\n".join(lines)

    def _shown_from(self, train_missing: bool) -> Path:
        if not self.data[0]:
            return self.out / f"{self.recipe.id}-paper"
        if (self.folder() / "results.json").is_file() and not train_missing:
            return self.folder()
        return self.out / f"{self.recipe.id}-{self.profile}"

    def rows(self, train_missing: bool = False) -> dict:
        """The table's results document, with ``folder`` (where its ``table.md`` is), ``plots`` and
        ``trained_here`` (every row was to be trained here).

        Committed runs are read as they are; otherwise the table is made in ``out/`` (reusing the
        committed runs but for ``quick``), training the rows without a stored run when
        ``train_missing``. Without the data: the paper's whole table at the full profile, our rows "not run"."""
        from lrkit.reproduce.runner import load_results, reproduce

        folder = self._shown_from(train_missing)
        present = self.data[0]
        if folder == self.folder():
            doc = load_results(folder)
            curves = folder / "curves.png"
            doc["plots"] = [str(curves)] if curves.is_file() else []
        else:
            doc = reproduce(self.recipe.id, profile=self.profile if present else "full", device=self.device,
                            out=folder, progress=False, reuse=[self.results] if self.profile != "quick" else [],
                            missing="train" if train_missing and present else "skip")
        doc["folder"] = str(folder)
        doc["trained_here"] = bool(train_missing and present)
        return doc

    def show(self, train_missing: bool = False) -> dict:
        """:meth:`rows`, shown in the notebook: :meth:`describe`, the table, and the curves of its runs."""
        from IPython.display import Image, Markdown, display

        print(self.describe(train_missing))
        doc = self.rows(train_missing)
        display(Markdown(self.markdown(doc)))
        if runs_with_curves(doc) and doc["plots"]:
            display(Markdown("LR per iteration (log scale) and test top-1 accuracy of every run:"), Image(doc["plots"][0]))
        else:
            print("no runs to plot for this profile here")
        return doc

    def markdown(self, doc: dict) -> str:
        """The table of ``doc`` (:meth:`rows`) as Markdown, headed by a note where the data is absent."""
        text = (Path(doc["folder"]) / "table.md").read_text()
        present, where = self.data
        note = "" if present else f"**{where}.** The table shows the paper's numbers; our rows say \"not run\".\n\n"
        return note + text

    def committed_markdown(self, profile: str) -> str:
        """The committed ``table.md`` of another profile of this table, or a line saying there is none."""
        path = self.folder(profile) / "table.md"
        if path.is_file():
            return path.read_text()
        return f"No {profile}-profile result is committed here (`{path.parent}`)."

    def points_at(self, profile: str, check) -> list[str]:
        """``check`` (one of the functions below that take a table's rows) on the committed rows of ``profile``,
        after a line counting them; or a line saying there are none."""
        doc = self.committed(profile)
        if doc is None:
            return [self.committed_markdown(profile)]
        return [f"{profile} profile: {len(doc['table'])} rows with a run", *check(doc["table"])]

    def folders(self, columns: dict[str, str]) -> dict[str, Path]:
        """Column name → the committed folder of that profile (``columns``: column name → profile), for
        :func:`~lrkit.reproduce.report.budgets_markdown` and :func:`lrkit.viz.plot_budgets`."""
        return {name: self.folder(profile) for name, profile in columns.items()}

    def budgets_markdown(self, columns: dict[str, str], only: str | None = None) -> str:
        """The committed profiles of this table side by side (:func:`~lrkit.reproduce.report.budgets_markdown`;
        ``columns``: column name → profile; ``only``: a column name, keep just the rows it has)."""
        from lrkit.reproduce.report import budgets_markdown

        return budgets_markdown(self.folders(columns), only=only)

    def summary(self, doc: dict) -> list[str]:
        """How many rows have our result and how many only the paper's, the paper's claim, and whether every
        row shows one of the two (where every row was to be trained here, every row needs ours)."""
        table = doc["table"]
        ran = [r for r in table if r["status"] not in ("not run", "failed")]
        paper = [r for r in table if r["status"] == "not run" and (
            r["paper_highest_top1"] is not None or r["paper_iters_to_target"] is not None or r.get("paper_not_reached"))]
        ok = len(ran) == len(table) if doc.get("trained_here") else len(ran) + len(paper) == len(table)
        return [f"{len(ran)} rows with our runs, {len(paper)} with the paper's number only", f"paper: {self.recipe.claim}",
                f"every row has our result, or (no data, or no run committed) the paper's number: {ok and bool(table)}"]


def show_figure(fig) -> None:
    """Display a matplotlib figure in the notebook once, then close it (so the inline backend does not show
    it again at the end of the cell)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def runs_with_curves(doc: dict) -> list[dict]:
    """The results of ``doc`` whose first record has an LR curve (the rows that ran)."""
    return [res for res in doc["results"] if res["records"] and res["records"][0].get("curves", {}).get("lr")]


def best_by_category(table: list[dict]) -> dict[str, dict]:
    """Category → the row with our highest top-1 in it (rows without a result left out)."""
    best: dict[str, dict] = {}
    for r in table:
        acc = r["ours_highest_top1"]
        if acc is not None and acc > best.get(r["category"], {}).get("ours_highest_top1", -1):
            best[r["category"]] = r
    return best


def best_lines(table: list[dict]) -> list[str]:
    """The best row of each category beside the paper's number, and whether a non-fixed policy beats the
    best fixed LR."""
    best = best_by_category(table)
    lines = [f"best {c:<10} ours {r['ours_highest_top1']:6.2f}%  paper {r['paper_highest_top1']}%  {r['policy']}"
             for c, r in best.items()]
    others = [r["ours_highest_top1"] for c, r in best.items() if c != "fixed"]
    if "fixed" in best and others:
        lines.append(f"a decaying/cyclic/composite policy beats the best fixed LR here: "
                     f"{max(others) > best['fixed']['ours_highest_top1']}")
    return lines


def _name(r: dict) -> str:
    """The row's printed name: its label's, else its policy's family (the STEP/EXP rows go by their labels)."""
    return (r["label"] or r["policy"]).split(":")[0].split("(")[0].strip()


def rank_line(rows: list[dict]) -> list[str]:
    """Spearman's ρ between our highest top-1 and the paper's over ``rows`` (both present), where 3+ rows."""
    rho = rank_correlation([r["ours_highest_top1"] for r in rows], [r["paper_highest_top1"] for r in rows])
    return [] if rho is None else [f"rank correlation of our rows with the paper's (Spearman, {len(rows)} rows): {rho:.2f}"]


def resnet32_points(table: list[dict]) -> list[str]:
    """004 Table 6 / 000 Table I on ResNet-32: the best rows, NSTEP/POLY/TRIEXP/SINEXP over the best fixed LR
    (paper: all over +6.3 points), TRI2/SIN2 above TRI/SIN/COS, MULTI the best row, category means, and
    the rank correlation with the paper."""
    lines = best_lines(table)
    done = [r for r in table if r["ours_highest_top1"] is not None]
    ours = {_name(r): r["ours_highest_top1"] for r in done}
    fix = max((r["ours_highest_top1"] for r in done if r["category"] == "fixed"), default=None)
    named = [n for n in ("NSTEP", "POLY", "TRIEXP", "SINEXP") if n in ours]
    if fix is not None and named:
        lines.append(f"ours minus our best fixed LR ({fix:.2f}%), paper: all four over +6.3 points: "
                     + ", ".join(f"{n} {ours[n] - fix:+.2f}" for n in named))
    good, bad = [n for n in ("TRI2", "SIN2") if n in ours], [n for n in ("TRI", "SIN", "COS") if n in ours]
    if good and bad:
        lines.append(f"TRI2/SIN2 ({', '.join(f'{n} {ours[n]:.2f}' for n in good)}) above TRI/SIN/COS "
                     f"({', '.join(f'{n} {ours[n]:.2f}' for n in bad)}) here (paper: over 91.85% against under 77%): "
                     f"{min(ours[n] for n in good) > max(ours[n] for n in bad)}")
    if "MULTI" in ours:
        lines.append(f"MULTI the best row here (paper: 92.91%, the best of Table I): {ours['MULTI'] == max(ours.values())}")
    cats: dict[str, list[float]] = {}
    for r in done:
        cats.setdefault(r["category"], []).append(r["ours_highest_top1"])
    lines.append("category means here: " + ", ".join(f"{c} {fmean(v):.2f}% (n={len(v)})" for c, v in cats.items()))
    return lines + rank_line([r for r in done if r["paper_highest_top1"] is not None])


def cnn3_points(table: list[dict]) -> list[str]:
    """004 Table 5 on CNN3: the best rows, how many decaying/cyclic rows beat our best fixed LR (paper: all),
    our best row against the paper's SINEXP, LRBench's cyclic rows against Smith's -S rows, the rank
    correlation with the paper."""
    lines = best_lines(table)
    done = [r for r in table if r["ours_highest_top1"] is not None and r["paper_highest_top1"] is not None]
    fix = max((r["ours_highest_top1"] for r in done if r["category"] == "fixed"), default=None)
    if fix is not None:
        beat = [r for r in done if r["category"] != "fixed" and r["ours_highest_top1"] > fix]
        lines.append(f"decaying/cyclic rows above our best fixed LR ({fix:.2f}%): {len(beat)} of "
                     f"{sum(r['category'] != 'fixed' for r in done)} (paper: all of them)")
    if done:
        top = max(done, key=lambda r: r["ours_highest_top1"])
        lines.append(f"our best row: {top['label'] or top['policy']} {top['ours_highest_top1']:.2f}% "
                     "(paper's best: SINEXP 82.16%)")
    smith = [r["ours_highest_top1"] for r in done if (r["label"] or "").endswith("-S")]
    lrbench = [r["ours_highest_top1"] for r in done if r["category"] == "cyclic" and not (r["label"] or "").endswith("-S")]
    if smith and lrbench:
        lines.append(f"LRBench's cyclic rows: mean {fmean(lrbench):.2f}%, min {min(lrbench):.2f}%; Smith's -S rows: "
                     f"mean {fmean(smith):.2f}%, max {max(smith):.2f}% (paper: every LRBench row above every -S row)")
    return lines + rank_line(done)


def target_lines(table: list[dict]) -> list[str]:
    """Each row's iterations to the target, ours beside the paper's, and whether a cyclic policy gets there
    sooner than every fixed LR."""
    lines = []
    for r in table:
        it = r["ours_iters_to_target"]
        ours = "not run" if r["status"] == "not run" else "not reached" if it is None else f"{it:.0f}"
        paper = "not reached" if r.get("paper_not_reached") else r["paper_iters_to_target"]
        lines.append(f"{r['policy'][:60]:<60} ours {ours:>12}  paper {paper}")
    cyc = [r["ours_iters_to_target"] for r in table if r["category"] == "cyclic" and r["ours_iters_to_target"]]
    fix = [r["ours_iters_to_target"] for r in table if r["category"] == "fixed"]
    if cyc and fix:
        lines.append("a cyclic policy reaches the target sooner than every fixed LR here: "
                     f"{all(f is None or min(cyc) < f for f in fix)}")
    return lines


def optimizer_order(table: list[dict]) -> list[str]:
    """Per policy run with several optimizers: the optimizers ordered by our highest top-1 and by the paper's,
    and for how many policies Momentum is the best, ours against the paper's."""
    per: dict[str, dict] = {}
    for r in table:
        if r["ours_highest_top1"] is not None and r["paper_highest_top1"] is not None:
            per.setdefault(r["policy"], {})[r["optimizer"]] = (r["ours_highest_top1"], r["paper_highest_top1"])
    per = {p: d for p, d in per.items() if len(d) > 1}
    lines = []
    for pol, d in per.items():
        ours, paper = (" > ".join(sorted(d, key=lambda o: -d[o][i])) for i in (0, 1))
        lines.append(f"{pol.split('(')[0]:<7} optimizers by top-1, ours: {ours:<24} paper: {paper}")
    if per:
        best = sum(max(d, key=lambda o: d[o][0]) == "momentum" for d in per.values())
        paper_best = sum(max(d, key=lambda o: d[o][1]) == "momentum" for d in per.values())
        lines.append(f"Momentum the best optimizer for {best} of {len(per)} policies here (paper: {paper_best} of {len(per)})")
    return lines


def optimizer_points(doc: dict) -> list[str]:
    """004 Tables 11/12: the best policy with each optimizer, the rows that stay near chance (< 15%) in ours
    and in the paper's, the runs that learn and then lose it (a fall of over 10 points from their peak),
    and :func:`optimizer_order`."""
    table = doc["table"]
    by: dict[str, list] = {}
    for r in table:
        if r["ours_highest_top1"] is not None:
            by.setdefault(r["optimizer"], []).append((r["ours_highest_top1"], r["policy"]))
    lines = [f"best with {opt:<9} ours {max(v)[0]:6.2f}%  {max(v)[1]}" for opt, v in by.items()]
    stuck = [(r["optimizer"], r["policy"]) for r in table if r["ours_highest_top1"] is not None and r["ours_highest_top1"] < 15]
    paper_stuck = [(r["optimizer"], r["policy"]) for r in table if (r["paper_highest_top1"] or 100) < 15]
    lines.append(f"rows that stay near chance (< 15%) — ours: {stuck or 'none'} | paper: {paper_stuck or 'none'}")
    for res in doc["results"]:
        for rec in res["records"][:1]:
            acc = [a for a in rec["evals"]["top1"] if isinstance(a, (int, float))]
            if acc and max(acc) - acc[-1] > 0.10:
                lines.append(f"{res['config']['optimizer']} + {res['row']['policy']}: ours peaks at {100 * max(acc):.2f}% "
                             f"and ends at {100 * acc[-1]:.2f}% (falls {100 * (max(acc) - acc[-1]):.1f} points)")
    return lines + optimizer_order(table)
