"""A search recipe run from a notebook (``notebooks/000_table4_lambda_search.py``, ``000_fig6_policy_lambda.py``):
its trials in a database of its own, its searches saved under ``out/``, the comparison with the paper shown."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lrkit.tune.recipe import SearchRecipe, load_search_recipe, run_search_recipe, search_recipes_dir


@dataclass(frozen=True)
class SearchView:
    """A search recipe (:mod:`lrkit.tune.recipe`) as a notebook runs it: its trials recorded in a database
    of its own (``out/lrkit.db``, never the default one) and its searches saved under ``out``
    (default ``out/<recipe id>-<profile>/`` beside ``reproductions/``; ``out/`` is not committed)."""

    recipe: SearchRecipe
    searches: list
    profile: str
    device: str
    out: Path

    @classmethod
    def open(cls, recipe_id: str, profile: str, device: str | None = None, out=None) -> SearchView:
        """The view of search recipe ``recipe_id`` at ``profile`` on ``device`` (default ``$LRKIT_DEVICE``, else cpu)."""
        device = device or os.environ.get("LRKIT_DEVICE") or "cpu"
        searches, recipe = load_search_recipe(recipe_id, profile, device=device)
        out = Path(out) if out else search_recipes_dir().parents[1] / "out" / f"{recipe.id}-{profile}"
        return cls(recipe, searches, profile, device, out)

    @property
    def db(self) -> str:
        return f"sqlite:///{self.out}/lrkit.db"

    def describe(self) -> str:
        """Markdown: the title, profile, device and folder, then each search (method, trials, λ, repeats)."""
        out, checkout = self.out, search_recipes_dir().parents[1]
        if out.is_relative_to(checkout):  # the checkout's own folders, named as in the repository
            out = out.relative_to(checkout)
        return (f"**{self.recipe.title}** | profile: {self.profile} | device: {self.device} | results in "
                f"`{out}`\n\n{self.recipe.describe(self.searches)}")

    def run(self, resume: bool, workers: int | None = None):
        """Every search of the recipe (:func:`~lrkit.tune.recipe.run_search_recipe`), trials in ``workers``
        processes (default: one per CPU core, each trial on one thread, or one per GPU). ``resume``: finished
        trials in the database are read back, not trained again; otherwise the database starts empty."""
        if workers is None:
            import torch

            workers = (os.cpu_count() or 1) if self.device == "cpu" else max(1, torch.cuda.device_count())
        self.out.mkdir(parents=True, exist_ok=True)
        if not resume:
            (self.out / "lrkit.db").unlink(missing_ok=True)
        return run_search_recipe(self.recipe.path, self.profile, executor="local", workers=workers, db=self.db,
                                 out=self.out, resume=resume, progress=False, device=self.device)

    def show(self, resume: bool, workers: int | None = None):
        """:meth:`run`, shown in the notebook: :meth:`describe`, then the comparison with the paper."""
        from IPython.display import Markdown, display

        display(Markdown(self.describe()))
        run = self.run(resume, workers)
        display(Markdown(run.markdown))
        return run
