"""Search recipes: a paper's tuning experiment as a TOML file — the task, the searches, the paper's
numbers — with ``quick`` and ``full`` profiles (000 Table IV and Fig. 6).

The recipes live in ``reproductions/search/`` (beside, not among, the table recipes of
:mod:`lrkit.reproduce`, which loads every ``reproductions/*.toml`` as a table). A recipe is named by
its ``id`` (``"000-table-iv"``, ``"000-fig6"``), its file stem (``"000_table4_lambda_search"``) or a
path to a ``.toml`` file.

    searches, recipe = load_search_recipe("000-table-iv", "quick")   # the Searches, and what they reproduce
    run = run_search_recipe("000-table-iv", "quick", db="sqlite:///out/t4/lrkit.db", out="out/t4")
    run.comparison          # ours vs the paper (a DataFrame); run.markdown, out/comparison.md
    run.results["grid"]     # a SearchResult per search; saved under out/<search name>/

The recipe model (strict keys, profiles and their time scale, the paper's claims as ``[[checks]]``) is
:mod:`lrkit.recipes`; loading is :mod:`~lrkit.tune.search_recipe`, running and comparing
:mod:`~lrkit.tune.recipe_compare`, plots :mod:`~lrkit.tune.recipe_plots`; this module gathers them.

Format (every table rejects keys it does not know, naming them and the allowed ones)::

    id, title, source, claim     strings; ``published``: the lrkit/db/published/ file of the paper's numbers
    objective, target_acc        of every search (see lrkit.tune.search.OBJECTIVES)
    [task]                       TrainConfig fields of every trial (not policy, seed, threads)
    [[searches]]                 name, method and the method's fields, ``repeats`` (seeds 0..repeats-1):
        method = "grid"          policies, lams, params = {name = [values]}
        method = "random"        policies, lam_range = [lo, hi, "log"|"linear"], ranges = {name = [lo, hi, scale]},
                                 samples, seed, redraw (default true: repeat r draws its own points with seed + r)
        method = "follow_up"     of (a grid/random search), policy (a policy name of it), lam (a number, or
                                 "best": that policy's best λ in ``of``, known once ``of`` has run),
                                 param (a policy parameter, or "ratio" = k1/k0), values
    [[paper]]                    search, label, note, and what the paper reports (percent): highest_top1 [, std,
                                 repeats], or a bound ``above`` / ``below``; at a point (policy name, lam, value
                                 of a follow-up) or, with none of these, for the search as a whole: the best
                                 trial of each repeat, mean ± std over the repeats (000 Table IV)
    [profiles.quick|full]        time_scale, repeats, TrainConfig fields (iters, eval_every, ...), and
                                 searches.<name> = {...}: lams, params, only (policy names kept) for a grid;
                                 lam_range, ranges, samples, seed, only for a random search; lam, values for a
                                 follow-up; repeats for any
    [[checks]]                   says, better, worse, how (lrkit.recipes.claims): a group is a search as a whole
                                 (``"grid"`` or {search = "grid"}: best trial per repeat, mean over repeats) or
                                 its cells ({search, policy, lam, value}: the mean over the cell's runs)

Policies and time parameters are written at the paper's budget (iterations); a profile's
``time_scale`` multiplies the task's iterations and eval interval (unless the profile sets them) and
rescales every trial's policy with :meth:`lrkit.policies.Policy.rescale_time`, so the same curves run
on a shorter budget. Search names are ``<recipe id>-<search name>`` (the database source is
``tune:<that>``).
"""

from .recipe_compare import RecipeRun, claim_entries, compare, comparison_markdown, repeat_best, run_search_recipe
from .recipe_plots import plot_follow_up, plot_grid_vs_random, plot_policy_lambda
from .search_recipe import (METHODS, PROFILES, SearchRecipe, best_lam, list_search_recipes, load_search_recipe,
                            search_recipes_dir)

__all__ = ["METHODS", "PROFILES", "RecipeRun", "SearchRecipe", "best_lam", "claim_entries", "compare",
           "comparison_markdown", "list_search_recipes", "load_search_recipe", "plot_follow_up", "plot_grid_vs_random",
           "plot_policy_lambda", "repeat_best", "run_search_recipe", "search_recipes_dir"]
