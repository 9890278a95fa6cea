"""Query sizes: how many items (ranked candidates) one query carries.

``lognormal`` (default) is heavy-tailed: log-normal with sigma 1.0 and its mean matched to
DeepRecSys's load generator (mean 165 candidates, at most 1024 per query:
``run_DeepRecSys.sh``/``loadGenerator.py``), which itself draws a normal; DeepRecSys (ISCA'20)
describes production query sizes as heavy-tailed, which the log-normal stands in for
[estimate]. ``mlperf`` draws MLPerf DLRM's sample sizes (100-700 user-item pairs from
``tools/dist_quantile.txt``: 100, 100, 200 x 12, 300, 300, 400, 500, 600, 700; mean 270).
``fixed:N`` gives every query N items. Vision queries are one image each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_ITEMS = 1024
LOGNORMAL_MEAN = 165.0
LOGNORMAL_SIGMA = 1.0
MLPERF_QUANTILES = (100, 100, *([200] * 12), 300, 300, 400, 500, 600, 700)


@dataclass(frozen=True)
class QuerySizes:
    """A stated query-size distribution.

    Attributes:
        name: ``lognormal``, ``mlperf`` or ``fixed:N``.
    """

    name: str = "lognormal"

    def __post_init__(self) -> None:
        if self.name not in ("lognormal", "mlperf") and not self._fixed():
            raise ValueError(
                f"unknown query-size distribution {self.name!r}; use lognormal, "
                "mlperf or fixed:N (N a positive integer)"
            )

    def _fixed(self) -> int | None:
        head, _, tail = self.name.partition(":")
        if head == "fixed" and tail.isdigit() and int(tail) > 0:
            return int(tail)
        return None

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return ``n`` query sizes (integers >= 1)."""
        fixed = self._fixed()
        if fixed:
            return np.full(n, fixed, dtype=np.int64)
        if self.name == "mlperf":
            return rng.choice(np.asarray(MLPERF_QUANTILES), size=n)
        mu = math.log(LOGNORMAL_MEAN) - LOGNORMAL_SIGMA**2 / 2
        sizes = np.rint(rng.lognormal(mu, LOGNORMAL_SIGMA, n)).astype(np.int64)
        return np.clip(sizes, 1, MAX_ITEMS)

    def max_items(self) -> int:
        """Return the largest size the distribution can draw."""
        fixed = self._fixed()
        if fixed:
            return fixed
        return max(MLPERF_QUANTILES) if self.name == "mlperf" else MAX_ITEMS

    def describe(self) -> str:
        """Return the distribution in words, for the ``source`` of profile rows."""
        fixed = self._fixed()
        if fixed:
            return f"fixed {fixed} items/query"
        if self.name == "mlperf":
            return "MLPerf DLRM sample sizes 100-700 (dist_quantile, mean 270)"
        return (
            f"log-normal sizes, mean {LOGNORMAL_MEAN:g}, sigma {LOGNORMAL_SIGMA:g}, "
            f"1-{MAX_ITEMS} items (heavy-tailed; DeepRecSys mean and cap)"
        )
