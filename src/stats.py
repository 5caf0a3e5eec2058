"""The statistics a report's claims rest on: IQMs, bootstrap intervals, effect sizes, verdicts.

* **IQM** (interquartile mean, as rliable): the mean of the middle half of the seeds' scores.
  With 3 seeds it is their mean; with 10, the mean of the middle 6 (scipy's ``trim_mean``).
* **Intervals**: percentile bootstrap over seeds, stratified by cell (each cell's seeds are
  resampled on their own), ``reps`` resamples from a seeded generator.
* **Effect size**: the difference of two cells' IQMs, with the bootstrap interval of that
  difference (both cells resampled independently).
* **Multiple comparisons**: a report that makes ``m`` comparisons gives each a
  ``1 - alpha / m`` interval (Bonferroni), so all of them hold together with probability at
  least ``1 - alpha``.
* **Verdicts** against a margin of practical equivalence ``margin`` (in return units): a
  difference whose whole interval lies inside ``[-margin, margin]`` is a tie, one whose interval
  lies beyond the margin is a win or a loss, and anything else says what is and is not known.

Few seeds make wide intervals, by design: with 3 seeds the percentile interval of the mean is
close to [lowest seed, highest seed] and covers well under 95%; the report says how many seeds
each cell has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.05


def iqm(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean along ``axis`` (25% trimmed from each end); NaNs are not allowed."""
    from scipy.stats import trim_mean

    return trim_mean(values, proportiontocut=0.25, axis=axis)


def bootstrap_iqms(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps,) IQMs of resamples (with replacement) of one cell's per-seed scores."""
    scores = np.asarray(scores, dtype=float)
    return iqm(scores[rng.integers(0, len(scores), size=(reps, len(scores)))], axis=1)


def percentile_interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def fmt(self, digits: int = 0) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def iqm_interval(scores, reps: int = 10_000, alpha: float = ALPHA, seed: int = 0) -> Estimate:
    """The IQM of one cell's scores with its bootstrap interval."""
    scores = np.asarray(scores, dtype=float)
    boot = bootstrap_iqms(scores, reps, np.random.default_rng(seed))
    return Estimate(float(iqm(scores)), *percentile_interval(boot, alpha))


def difference_interval(a, b, reps: int = 10_000, alpha: float = ALPHA, seed: int = 0) -> Estimate:
    """IQM(a) - IQM(b) with the bootstrap interval of the difference (stratified: a and b are
    resampled independently, each from its own seeds)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    boot = bootstrap_iqms(a, reps, rng) - bootstrap_iqms(b, reps, rng)
    return Estimate(float(iqm(a) - iqm(b)), *percentile_interval(boot, alpha))


def corrected_alpha(num_comparisons: int, alpha: float = ALPHA) -> float:
    """Bonferroni: each of ``m`` intervals at level 1 - alpha/m holds all together at 1 - alpha."""
    return alpha / max(num_comparisons, 1)


def verdict(diff: Estimate, margin: float, a: str, b: str) -> str:
    """Plain words for ``a - b`` from its interval and the margin of practical equivalence."""
    lo, hi = diff.low, diff.high
    if lo > margin:
        return f"{a} > {b}"
    if hi < -margin:
        return f"{a} < {b}"
    if -margin <= lo and hi <= margin:
        return f"tie (within ±{margin:g})"
    if lo > 0:
        return f"{a} > {b}, possibly by less than {margin:g}"
    if hi < 0:
        return f"{a} < {b}, possibly by less than {margin:g}"
    return "inconclusive"


def normalised_auc(steps: np.ndarray, values: np.ndarray, budget: float, lo: float, hi: float):
    """Area under a learning curve over [0, budget] env steps, as a fraction of the best possible
    area ((hi - lo) * budget): 1 = the best score from the first step, 0 = the worst throughout.

    The curve is linear between its points, flat before the first (at its first value) and
    after the last; scores are clipped to [lo, hi].
    """
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    keep = ~np.isnan(values)
    steps, values = steps[keep], values[keep]
    if not len(steps) or budget <= 0 or hi <= lo:
        return None
    grid = np.linspace(0.0, budget, 501)
    curve = np.clip(np.interp(grid, steps, values), lo, hi)
    return float(np.trapezoid((curve - lo) / (hi - lo), grid) / budget)
