"""src.stats on data whose answers are known: IQMs, intervals, effect sizes, verdicts, areas."""

from __future__ import annotations

import numpy as np
import pytest

from src import stats
from src.stats import Estimate


def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm(np.array([0.0, 10.0, 10.0, 1000.0])) == pytest.approx(10.0)
    # 10 seeds: the lowest and highest two are trimmed, the middle six averaged.
    scores = np.array([-1000, -500, 1, 2, 3, 4, 5, 6, 700, 900], dtype=float)
    assert stats.iqm(scores) == pytest.approx(3.5)
    # 3 seeds: nothing is trimmed, the IQM is the mean (why 3 seeds cannot carry a claim).
    assert stats.iqm(np.array([0.0, 1.0, 5.0])) == pytest.approx(2.0)


def test_interval_of_identical_scores_is_a_point_and_contains_the_iqm_otherwise():
    assert stats.iqm_interval([500.0] * 10, reps=500) == Estimate(500.0, 500.0, 500.0)
    est = stats.iqm_interval(np.arange(10.0) * 10, reps=2000)
    assert est.low < est.value < est.high
    assert 0 <= est.low and est.high <= 90


def test_bootstrap_interval_covers_the_true_iqm_about_95_percent_with_10_seeds():
    # Normal scores: the population IQM is the mean (100). The percentile bootstrap with 10 seeds
    # should cover it in most experiments; with 3 seeds its real coverage falls far short.
    rng = np.random.default_rng(1)

    def coverage(n: int) -> float:
        hits = 0
        for i in range(300):
            est = stats.iqm_interval(rng.normal(100, 20, n), reps=1000, seed=i)
            hits += est.low <= 100 <= est.high
        return hits / 300

    assert 0.86 <= coverage(10) <= 0.99
    assert coverage(3) < 0.85


def test_difference_interval_and_its_bonferroni_widening():
    masked = np.full(10, 500.0)
    unmasked = np.linspace(100, 300, 10)
    diff = stats.difference_interval(masked, unmasked, reps=4000)
    assert diff.value == pytest.approx(500 - stats.iqm(unmasked))
    assert 200 < diff.low < diff.value < diff.high < 400
    wide = stats.difference_interval(masked, unmasked, reps=4000, alpha=stats.corrected_alpha(24))
    assert wide.low < diff.low and wide.high > diff.high
    assert stats.corrected_alpha(24) == pytest.approx(0.05 / 24)
    assert stats.corrected_alpha(0) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (30, 80, "masked > unmasked"),  # all of the CI beyond the margin
        (-80, -30, "masked < unmasked"),
        (-10, 10, "tie (within ±25)"),  # all of it inside the margin
        (-25, 25, "tie (within ±25)"),
        (5, 60, "masked > unmasked, possibly by less than 25"),  # excludes 0, reaches the margin
        (-60, -5, "masked < unmasked, possibly by less than 25"),
        (-40, 60, "inconclusive"),
    ],
)
def test_verdicts_follow_the_interval_and_the_margin(low, high, expected):
    diff = Estimate((low + high) / 2, low, high)
    assert stats.verdict(diff, 25, "masked", "unmasked") == expected


def test_500_against_499_9_is_a_tie_not_a_win():
    # The case the probability of improvement got wrong: P = 1, but no practical difference.
    diff = stats.difference_interval(np.full(10, 500.0), np.full(10, 499.9), reps=1000)
    assert stats.verdict(diff, 25, "masked", "unmasked") == "tie (within ±25)"


def test_normalised_area_under_the_curve():
    steps = np.array([0.0, 100.0])
    assert stats.normalised_auc(steps, np.array([500.0, 500.0]), 100, 0, 500) == pytest.approx(1)
    assert stats.normalised_auc(steps, np.array([0.0, 0.0]), 100, 0, 500) == pytest.approx(0)
    # A straight ramp from 0 to the maximum over the budget: half the area.
    assert stats.normalised_auc(steps, np.array([0.0, 500.0]), 100, 0, 500) == pytest.approx(0.5)
    # Held flat after the last point; clipped to the range (a penalty below 0 counts as 0).
    # -40 -> 500 over 50 steps crosses 0 at 50 * 40/540; then full marks for the last 50.
    ramp = stats.normalised_auc(np.array([0.0, 50.0]), np.array([-40.0, 500.0]), 100, 0, 500)
    assert ramp == pytest.approx((0.5 * (50 - 50 * 40 / 540) + 50) / 100, abs=0.003)
    assert stats.normalised_auc(np.array([]), np.array([]), 100, 0, 500) is None
