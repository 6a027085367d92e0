"""The two statistics of hot topics and surge warnings, as pure functions over counts.

**Hot topics: Dunning's log-likelihood ratio G².** For a term found in ``a`` of the
``n_window`` tickets of the window and in ``b`` of the ``n_baseline`` tickets of the
baseline, G² = 2·Σ O·ln(O/E) over the 2×2 table (term / not term × window / baseline).
Unlike a frequency ratio it does not explode on small counts (a word seen once today and
never before has a large ratio but a small G²), and unlike raw frequency it does not rank
the words every call contains (their rate is the same in both periods: G² ≈ 0). G² is
χ²(1)-distributed under "same rate": 10.83 is p = 0.001. Only terms more frequent in the
window than in the baseline are hot (the sign), and only with at least a minimum count.

**Surges: the Poisson upper tail.** The count of a category (department, legacy number,
place) in the last hour or day is compared with the same hour (day) of the week in the
previous weeks: with their mean μ, p = P(X ≥ count | X ~ Poisson(μ)). μ gets a weak prior
of half a ticket over the weeks, (Σ + 0.5)/weeks, so that a value never seen before still
has a finite p-value that the minimum count then guards. The negative binomial would allow
for over-dispersion but needs a variance estimated from 4 weekly values, which is noisier
than the bias it removes; the minimum count and the minimum ratio keep the Poisson test
from flagging a small rise on a large mean.

Both are written here (a few lines each with ``math.lgamma``) rather than pulling SciPy in.
"""

from __future__ import annotations

import math

__all__ = ["CHI2_P001", "g2", "poisson_sf", "signed_g2"]

#: G² above which a term is hot: the χ²(1) quantile for p = 0.001.
CHI2_P001 = 10.83


def _term(observed: float, expected: float) -> float:
    return observed * math.log(observed / expected) if observed > 0 and expected > 0 else 0.0


def g2(a: int, n_window: int, b: int, n_baseline: int) -> float:
    """Dunning's G² for ``a`` of ``n_window`` against ``b`` of ``n_baseline``.
    0 when either period is empty or the counts are impossible (a > n_window, ...)."""
    if n_window <= 0 or n_baseline <= 0 or not 0 <= a <= n_window or not 0 <= b <= n_baseline:
        return 0.0
    total = n_window + n_baseline
    with_term = a + b
    without = total - with_term
    cells = ((a, n_window * with_term / total),
             (n_window - a, n_window * without / total),
             (b, n_baseline * with_term / total),
             (n_baseline - b, n_baseline * without / total))
    return max(0.0, 2.0 * sum(_term(o, e) for o, e in cells))


def signed_g2(a: int, n_window: int, b: int, n_baseline: int) -> float:
    """G², negative when the term is rarer in the window than in the baseline."""
    value = g2(a, n_window, b, n_baseline)
    if n_window > 0 and n_baseline > 0 and a / n_window < b / n_baseline:
        return -value
    return value


def _log_pmf(k: int, mu: float) -> float:
    return k * math.log(mu) - mu - math.lgamma(k + 1)


def poisson_sf(count: int, mu: float) -> float:
    """P(X ≥ count) for X ~ Poisson(mu): the upper tail, computed by summing upwards from
    ``count`` when it lies above the mean (accurate for tiny p-values) and as one minus the
    lower sum otherwise."""
    if count <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if count > mu:
        total = 0.0
        k = count
        term = math.exp(_log_pmf(k, mu))
        while term > 0.0:
            total += term
            k += 1
            term *= mu / k
            if term < total * 1e-17:
                break
        return min(1.0, total)
    lower = sum(math.exp(_log_pmf(k, mu)) for k in range(count))
    return max(0.0, 1.0 - lower)
