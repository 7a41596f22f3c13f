"""From a good LR range to a few starting policies, built as the paper's tables build theirs."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal


def _round_sig(x: float, sig: int, mode: str) -> float:
    """``x`` rounded to ``sig`` significant digits: mode "up" (never below x), "down" (never above)
    or "nearest"."""
    d = Decimal(repr(float(x)))
    if d == 0:
        return 0.0
    exp = d.adjusted() - sig + 1
    rounding = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_EVEN}[mode]
    return float(d.quantize(Decimal(1).scaleb(exp), rounding=rounding))


def recommend_policies(lo: float, hi: float, iters: int, *, l: int | None = None) -> list[dict]:
    """A few starting LR policies built from a good LR range ``[lo, hi]`` and a budget of ``iters``
    iterations, each ``{"policy": spec, "family": ..., "why": text}``; every LR a policy takes during
    iterations 0 … iters−1 lies in [lo, hi]. ``lo`` is rounded up and ``hi`` down to 3 significant
    digits (more when needed to keep lo < hi); γ values are rounded up (4 and 12 digits).

    The choices, following 004:

    1. ``FIX(k = √(lo·hi))`` — the paper picks the fixed LR "from a small set of good LR values"
       in the range (§4.1); the geometric middle because the range is read on a log-k axis (Fig. 4).
    2. ``TRI2``, 3. ``SIN2`` and 4. ``COS`` with ``k0 = lo, k1 = hi`` — the paper's cyclic policies
       take their bounds from the range (Table 5: CNN3/CIFAR-10, k0 = 0.00005, k1 = 0.006 from
       Fig. 4). SIN2 was the most accurate on MNIST (99.33 %, Table 4) and COS the cheapest to the
       target (1,500 iterations, Table 10); TRI2 and SIN2 reached ResNet-32's target fastest
       (Table 10). Half cycle ``l = round(iters/5)`` (at least 1) unless given: Table 4 uses
       l = 2,000 for MNIST's 10,000 iterations — 2.5 cycles; COS then ends at a trough (t = 5l),
       TRI2/SIN2 have their last trough at t = 4l = 0.8·iters.
    5. ``NSTEP(k = hi, l = [iters/2, 3·iters/4])`` — the milestones of the paper's ResNet-32 NSTEP
       (32,000 and 48,000 of 64,000, Table 6); ``γ = √(lo/hi)`` (rounded up) so the last stage is
       at lo (the paper's γ = 0.1 would leave the range whenever hi/lo < 100).
    6. ``EXP(k = hi, γ = (lo/hi)^(1/iters))`` (rounded up) — Table 1's EXP with γ close to 1, set
       so the LR decays from hi to lo over the budget.

    When ``lo == hi`` only the FIX policy is returned (there is no range to cycle or decay over).
    Raises ValueError naming the argument for ``lo``/``hi`` not finite and > 0, ``lo > hi``, or
    ``iters``/``l`` not an int > 0.
    """
    from lrkit.policies import parse

    for name, v in (("lo", lo), ("hi", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"recommend_policies: {name} must be a finite LR > 0, got {v!r}")
    if lo > hi:
        raise ValueError(f"recommend_policies: lo must be <= hi, got lo={lo!r}, hi={hi!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"recommend_policies: iters must be an int > 0 (iterations), got {iters!r}")
    if l is not None and (isinstance(l, bool) or not isinstance(l, int) or l < 1):
        raise ValueError(f"recommend_policies: l must be an int > 0 (half cycle, iterations), got {l!r}")

    lo_r, hi_r = float(lo), float(hi)
    if lo < hi:
        for sig in range(3, 18):  # the shortest rounding that keeps lo_r < hi_r (exact values at worst)
            a, b = _round_sig(lo, sig, "up"), _round_sig(hi, sig, "down")
            if a < b:
                lo_r, hi_r = a, b
                break
    mid = min(max(_round_sig(math.sqrt(lo_r * hi_r), 3, "nearest"), lo_r), hi_r)

    def item(spec: str, why: str) -> dict:
        pol = parse(spec)
        return {"policy": str(pol), "family": pol.family, "why": why}

    out = [item(f"FIX(k={mid!r})", "fixed LR at the geometric middle of the good range (004 §4.1: pick the fixed "
                                     "LR from the good values; the range is read on a log-k axis, Fig. 4)")]
    if lo_r == hi_r:
        out[0]["why"] = "the good range is a single LR: a fixed LR there (004 §4.1)"
        return out
    half = l if l is not None else max(1, int(round(iters / 5)))
    ms = sorted({max(1, int(round(f * iters))) for f in (0.5, 0.75)})
    g_step = _round_sig((lo_r / hi_r) ** (1.0 / len(ms)), 4, "up")
    g_exp = _round_sig((lo_r / hi_r) ** (1.0 / iters), 12, "up")
    ms_txt = "[" + ", ".join(str(m) for m in ms) + "]"
    rng = f"k0=lo={lo_r!r}, k1=hi={hi_r!r}, half cycle l={half} (iters/5 as l=2000 for 10,000 on MNIST, Table 4)"
    out += [
        item(f"TRI2(k0={lo_r!r}, k1={hi_r!r}, l={half})",
             f"triangular CLR halving its amplitude every cycle; {rng}; reached ResNet-32's target fastest (Table 10)"),
        item(f"SIN2(k0={lo_r!r}, k1={hi_r!r}, l={half})",
             f"sine CLR halving every cycle; {rng}; the most accurate policy on MNIST (99.33 %, Table 4)"),
        item(f"COS(k0={lo_r!r}, k1={hi_r!r}, l={half})",
             f"cosine CLR starting at hi; {rng}; cheapest to MNIST's target (1,500 iterations, Table 10)"),
        item(f"NSTEP(k={hi_r!r}, gamma={g_step!r}, l={ms_txt})",
             f"step decay from hi at 1/2 and 3/4 of the budget (ResNet-32's 32,000/48,000 of 64,000, Table 6); "
             f"gamma = (lo/hi)^(1/{len(ms)}) so the last stage is at lo"),
        item(f"EXP(k={hi_r!r}, gamma={g_exp!r})",
             "exponential decay from hi, gamma close to 1 (Table 1) chosen so the LR reaches lo at the end of the budget"),
    ]
    return out
