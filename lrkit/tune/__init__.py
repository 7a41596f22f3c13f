"""LR tuning (000 §V; 004 §5.2–5.3): grid and random search over policy parameters and the LR
coefficient λ, follow-up grids, multi-policy composition, cost-effective tuning — locally or on Ray.

    space.py          Trial, grid_trials, random_trials, follow_up_trials
    search.py         Search, run_search (local executor), SearchResult (summary, top_k, heatmap)
    (executors)       the execution layer, lrkit.run: in-process, process pool, Ray Tune
    compose.py        MULTI compositions of candidate stages, Change-LR-On-Plateau compositions
"""

from .compose import compose_multi, composition_trials, heterogeneous, homogeneous, plateau_compositions
from .recipe import RecipeRun, SearchRecipe, list_search_recipes, load_search_recipe, run_search_recipe
from .search import EXECUTORS, OBJECTIVES, Search, SearchResult, combine, load_result, run_search
from .space import Trial, follow_up_trials, grid_trials, random_trials

__all__ = ["compose_multi", "composition_trials", "heterogeneous", "homogeneous", "plateau_compositions", "RecipeRun",
           "SearchRecipe", "list_search_recipes", "load_search_recipe", "run_search_recipe", "EXECUTORS", "OBJECTIVES", "Search", "SearchResult", "combine", "load_result", "run_search", "Trial",
           "follow_up_trials", "grid_trials", "random_trials"]
