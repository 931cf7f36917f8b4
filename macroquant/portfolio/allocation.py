"""Risk-based allocation of the risk budget across strategies (pure NumPy).

- :func:`inverse_volatility`: ``w_i ∝ 1 / sigma_i``.
- :func:`risk_parity`: equal risk contributions ``w_i (Σw)_i = w'Σw / n`` (Newton's
  method on the convex formulation of Spinu, 2013).
- :func:`hierarchical_risk_parity`: López de Prado (2016), "Building Diversified
  Portfolios that Outperform Out-of-Sample": (1) tree clustering — correlation distance
  ``d_ij = sqrt((1 - rho_ij) / 2)``, then the Euclidean distance between columns of ``d``,
  single linkage; (2) quasi-diagonalisation — the leaf order of the tree; (3) recursive
  bisection — split the ordered list in halves, give each half
  ``alpha = 1 - V1 / (V1 + V2)`` of its parent's weight, where ``V`` is the variance of the
  half's inverse-variance portfolio.
- :func:`crowding_cap`: strategies whose returns correlate above a threshold (linked
  through such pairs) share one risk budget.

Every function returns weights that sum to 1 (for :func:`crowding_cap`: the input's sum).
"""

from __future__ import annotations

import numpy as np


def _as_covariance(covariance: np.ndarray) -> np.ndarray:
    cov = np.asarray(covariance, dtype=float)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"covariance must be a square matrix, got shape {cov.shape}")
    if not np.isfinite(cov).all() or (np.diag(cov) <= 0).any():
        raise ValueError("covariance must be finite with positive variances")
    return cov


def inverse_volatility(covariance: np.ndarray) -> np.ndarray:
    """Weights proportional to ``1 / sigma`` (correlations ignored)."""
    inverse = 1.0 / np.sqrt(np.diag(_as_covariance(covariance)))
    return inverse / inverse.sum()


def risk_contributions(weights: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Each asset's share of portfolio variance: ``w_i (Σw)_i / w'Σw`` (sums to 1)."""
    marginal = covariance @ weights
    return weights * marginal / float(weights @ marginal)


def risk_parity(covariance: np.ndarray, *, tolerance: float = 1e-12,
                max_iterations: int = 100) -> np.ndarray:
    """Long-only equal-risk-contribution weights.

    Minimises ``x'Σx / 2 - (1/n) sum(log x)`` by Newton's method; its minimiser has
    ``x_i (Σx)_i = 1/n`` for every ``i``, and ``x / sum(x)`` are the weights.
    """
    cov = _as_covariance(covariance)
    n = len(cov)
    x = inverse_volatility(cov) / np.sqrt(float(inverse_volatility(cov) @ cov
                                                @ inverse_volatility(cov)) * n)
    for _ in range(max_iterations):
        gradient = cov @ x - 1.0 / (n * x)
        hessian = cov + np.diag(1.0 / (n * x**2))
        step = np.linalg.solve(hessian, gradient)
        # keep x positive (damped step)
        scale = 1.0
        while (x - scale * step <= 0).any():
            scale /= 2.0
        x = x - scale * step
        if np.abs(gradient).max() < tolerance:
            break
    return x / x.sum()


def correlation_distance(correlation: np.ndarray) -> np.ndarray:
    """``sqrt((1 - rho) / 2)``: 0 for identical series, 1 for opposite ones."""
    return np.sqrt(np.clip((1.0 - np.asarray(correlation, dtype=float)) / 2.0, 0.0, 1.0))


def single_linkage(distance: np.ndarray) -> np.ndarray:
    """Agglomerative single-linkage clustering of a distance matrix.

    Returns a linkage matrix in SciPy's layout: row ``k`` merges clusters ``a < b`` (ids
    ``< n`` are the original items, ``n + k`` the cluster formed at row ``k``) at
    ``distance`` with ``size`` members. Ties merge the pair with the smallest ids first.
    """
    dist = np.array(distance, dtype=float)
    n = len(dist)
    members = {i: [i] for i in range(n)}
    active = list(range(n))
    between = {(i, j): dist[i, j] for i in range(n) for j in range(i + 1, n)}
    rows = []
    for k in range(n - 1):
        (a, b), height = min(between.items(), key=lambda item: (item[1], item[0]))
        new = n + k
        members[new] = members.pop(a) + members.pop(b)
        active = [c for c in active if c not in (a, b)]
        rows.append([a, b, height, len(members[new])])
        between = {pair: d for pair, d in between.items() if a not in pair and b not in pair}
        for c in active:
            link = min(dist[i, j] for i in members[c] for j in members[new])
            between[(c, new)] = link
        active.append(new)
    return np.array(rows, dtype=float).reshape(-1, 4)


def leaf_order(linkage: np.ndarray, n: int) -> list[int]:
    """Quasi-diagonal order: the leaves of the tree, left cluster before right."""
    if n == 1:
        return [0]

    def leaves(node: int) -> list[int]:
        if node < n:
            return [node]
        left, right = linkage[node - n, :2].astype(int)
        return leaves(left) + leaves(right)

    return leaves(n + len(linkage) - 1)


def _cluster_variance(covariance: np.ndarray, items: list[int]) -> float:
    sub = covariance[np.ix_(items, items)]
    inverse = 1.0 / np.diag(sub)
    weights = inverse / inverse.sum()
    return float(weights @ sub @ weights)


def recursive_bisection(covariance: np.ndarray, order: list[int]) -> np.ndarray:
    """HRP step 3: split the ordered items in halves, allocate by inverse cluster variance."""
    weights = np.ones(len(order))
    pending = [list(order)]
    while pending:
        cluster = pending.pop()
        if len(cluster) < 2:
            continue
        half = len(cluster) // 2
        left, right = cluster[:half], cluster[half:]
        v_left, v_right = _cluster_variance(covariance, left), \
            _cluster_variance(covariance, right)
        alpha = 1.0 - v_left / (v_left + v_right)
        weights[left] *= alpha
        weights[right] *= 1.0 - alpha
        pending += [left, right]
    return weights


def hrp_linkage(covariance: np.ndarray) -> np.ndarray:
    """HRP step 1: the single-linkage tree over the distance between correlation-distance
    columns."""
    cov = _as_covariance(covariance)
    sd = np.sqrt(np.diag(cov))
    distance = correlation_distance(cov / np.outer(sd, sd))
    columns = np.sqrt(((distance[:, :, None] - distance[:, None, :]) ** 2).sum(axis=0))
    return single_linkage(columns)


def hierarchical_risk_parity(covariance: np.ndarray) -> np.ndarray:
    """Hierarchical risk parity weights (López de Prado, 2016)."""
    cov = _as_covariance(covariance)
    order = leaf_order(hrp_linkage(cov), len(cov))
    weights = recursive_bisection(cov, order)
    return weights / weights.sum()


def crowding_groups(correlation: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups of items linked by pairwise correlations above ``threshold`` (connected
    components), each sorted, ordered by first member."""
    corr = np.asarray(correlation, dtype=float)
    n = len(corr)
    group = list(range(n))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if corr[i, j] > threshold:
                group[root(j)] = root(i)
    components: dict[int, list[int]] = {}
    for i in range(n):
        components.setdefault(root(i), []).append(i)
    return sorted(components.values())


def crowding_cap(weights: np.ndarray, correlation: np.ndarray, threshold: float) -> np.ndarray:
    """Strategies correlated above ``threshold`` share one risk budget: a crowded group
    gets the largest budget of its members, split in proportion to their weights; the
    result is rescaled to the input's total, so uncrowded strategies gain what the crowd
    gave up."""
    w = np.asarray(weights, dtype=float)
    out = w.copy()
    for members in crowding_groups(correlation, threshold):
        if len(members) > 1 and w[members].sum() > 0:
            out[members] = w[members] / w[members].sum() * w[members].max()
    return out * (w.sum() / out.sum()) if out.sum() > 0 else out


def allocate(method: str, covariance: np.ndarray, configured: np.ndarray) -> np.ndarray:
    """Weights by ``method`` ('configured', 'inverse_volatility', 'risk_parity', 'hrp')."""
    if method == "configured":
        c = np.asarray(configured, dtype=float)
        return c / c.sum()
    methods = {"inverse_volatility": inverse_volatility, "risk_parity": risk_parity,
               "hrp": hierarchical_risk_parity}
    if method not in methods:
        raise ValueError(f"unknown allocation method '{method}'")
    return methods[method](covariance)
