"""A two-component 1-D Gaussian mixture: the noise threshold without being told the noise rate.

NCR (Huang et al., "Learning with Noisy Correspondence for Cross-modal Matching", NeurIPS 2021)
fits a two-component GMM to per-sample losses and calls a sample clean when the posterior of
the low-loss component exceeds 0.5. The audit does the same on its noise score: the component
with the higher mean is "wrong", and a caption is flagged when

    p(wrong | s) = pi_w N(s; mu_w, var_w) / sum_k pi_k N(s; mu_k, var_k) > 0.5,

with (pi, mu, var) fitted by EM (Dempster, Laird and Rubin, 1977). The fraction flagged is the
estimated noise rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mixture:
    weights: tuple[float, float]  # (clean, wrong)
    means: tuple[float, float]
    stds: tuple[float, float]
    iterations: int

    def posterior_wrong(self, x: np.ndarray) -> np.ndarray:
        """p(wrong component | x) for each value of ``x``."""
        x = np.asarray(x, dtype=np.float64)[:, None]
        mu, sd, w = np.array(self.means), np.array(self.stds), np.array(self.weights)
        logp = np.log(w) - np.log(sd) - 0.5 * ((x - mu) / sd) ** 2
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
        return p[:, 1] / p.sum(axis=1)

    def as_dict(self) -> dict:
        return {"weights": list(self.weights), "means": list(self.means), "stds": list(self.stds),
                "iterations": self.iterations}


def fit_mixture(x: np.ndarray, iterations: int = 500, tol: float = 1e-9) -> Mixture:
    """Fit a two-component GMM to ``x`` by EM, started from the 25th and 95th percentiles."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 4 or not np.isfinite(x).all():
        raise ValueError(f"a mixture needs at least 4 finite scores, got {x.size}")
    floor = 1e-6 * (x.std() + 1e-12)
    mu = np.percentile(x, [25, 95]).astype(np.float64)
    sd = np.full(2, x.std() / 2 + floor)
    w = np.array([0.5, 0.5])
    prev, it = -np.inf, 0
    for it in range(1, iterations + 1):
        logp = np.log(w) - np.log(sd) - 0.5 * ((x[:, None] - mu) / sd) ** 2
        top = logp.max(axis=1, keepdims=True)
        ll = float((top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))).mean())
        r = np.exp(logp - top)
        r /= r.sum(axis=1, keepdims=True)
        n = r.sum(axis=0) + 1e-12
        w = n / n.sum()
        mu = (r * x[:, None]).sum(axis=0) / n
        sd = np.sqrt((r * (x[:, None] - mu) ** 2).sum(axis=0) / n) + floor
        if ll - prev < tol:
            break
        prev = ll
    order = np.argsort(mu)  # component 1 is the one with the higher mean: "wrong"
    return Mixture(tuple(map(float, w[order])), tuple(map(float, mu[order])), tuple(map(float, sd[order])), it)
