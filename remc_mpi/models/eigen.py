"""Closed-form eigen-solvers for batches of small real symmetric tridiagonal matrices.

The cluster Hamiltonians are 2x2 and 3x3 symmetric tridiagonal matrices, one per replica.
LAPACK on an (R, 3, 3) stack costs microseconds per matrix in call overhead; these solvers
work on whole (R,) columns at once with a handful of vector operations.

3x3: eigenvalues by the trigonometric solution of the characteristic cubic,
    q = tr(A)/3,  p = sqrt(tr((A - qI)^2)/6),  r = det((A - qI)/p)/2,
    lambda_k = q + 2p cos(arccos(r)/3 + 2 pi k/3),
then polished by Newton steps on det(A - lambda I) (a step is kept only where it lowers the
residual), which restores full precision near the degeneracies where arccos is
ill-conditioned. Eigenvectors are the largest of the three cross products of the rows of
A - lambda I, which never all vanish for a simple eigenvalue.
"""

from __future__ import annotations

import numpy as np

_TWO_PI_3 = 2.0 * np.pi / 3.0


def _char_poly(lam, a1, a2, a3, b1, b2):
    """det(A - lam I) and its derivative for the tridiagonal A (all arguments broadcast)."""
    d1, d2, d3 = a1 - lam, a2 - lam, a3 - lam
    p = d1 * (d2 * d3 - b2 * b2) - b1 * b1 * d3
    dp = -(d2 * d3 - b2 * b2) - d1 * (d2 + d3) + b1 * b1
    return p, dp


def tridiag3_eigvals(a1, a2, a3, b1, b2) -> np.ndarray:
    """Ascending eigenvalues, shape (R, 3), of [[a1,b1,0],[b1,a2,b2],[0,b2,a3]] per row."""
    q = (a1 + a2 + a3) / 3.0
    d1, d2, d3 = a1 - q, a2 - q, a3 - q
    off = b1 * b1 + b2 * b2
    p2 = d1 * d1 + d2 * d2 + d3 * d3 + 2.0 * off
    p = np.sqrt(p2 / 6.0)
    safe = np.where(p > 0.0, p, 1.0)
    # det(A - qI) / p^3 / 2
    det = d1 * (d2 * d3 - b2 * b2) - b1 * b1 * d3
    r = np.clip(det / (2.0 * safe**3), -1.0, 1.0)
    phi = np.arccos(r) / 3.0
    hi = q + 2.0 * p * np.cos(phi)
    lo = q + 2.0 * p * np.cos(phi + _TWO_PI_3)
    mid = 3.0 * q - hi - lo
    lam = np.stack([lo, mid, hi], axis=-1)
    A1, A2, A3, B1, B2 = (x[..., None] for x in (a1, a2, a3, b1, b2))
    for _ in range(2):
        f, df = _char_poly(lam, A1, A2, A3, B1, B2)
        ok = df != 0.0
        step = np.where(ok, f / np.where(ok, df, 1.0), 0.0)
        cand = lam - step
        fc, _ = _char_poly(cand, A1, A2, A3, B1, B2)
        lam = np.where(np.abs(fc) < np.abs(f), cand, lam)
    return np.sort(lam, axis=-1)


def tridiag3_eigvecs(lam, a1, a2, a3, b1, b2) -> np.ndarray:
    """Unit eigenvectors, shape (R, K, 3), for eigenvalues ``lam`` of shape (R, K).

    Rows of A - lam I: r1 = (a1-l, b1, 0), r2 = (b1, a2-l, b2), r3 = (0, b2, a3-l);
    each cross product below is orthogonal to two rows, hence an eigenvector. Signs are
    arbitrary: only squared overlaps |<f|g>|^2 are used.
    """
    A1, A2, A3, B1, B2 = (x[..., None] for x in (a1, a2, a3, b1, b2))
    d1, d2, d3 = A1 - lam, A2 - lam, A3 - lam
    z = np.zeros_like(lam)
    # r1 x r2, r1 x r3, r2 x r3
    c12 = np.stack([B1 * B2 + z, -d1 * B2, d1 * d2 - B1 * B1], axis=-1)
    c13 = np.stack([B1 * d3, -d1 * d3, d1 * B2 + z], axis=-1)
    c23 = np.stack([d2 * d3 - B2 * B2, -B1 * d3, B1 * B2 + z], axis=-1)
    cands = np.stack([c12, c13, c23], axis=-2)  # (R, K, 3 candidates, 3)
    norms = np.einsum("...ij,...ij->...i", cands, cands)
    best = np.argmax(norms, axis=-1)
    vec = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    nrm = np.sqrt(np.take_along_axis(norms, best[..., None], axis=-1))
    return vec / nrm


def tridiag2_eig(a, c, t):
    """Eigen-decomposition of [[a, t], [t, c]] per row.

    Returns (lam (R,2) ascending, vecs (R,2,2) with vecs[:, k] the unit eigenvector of lam[:, k]).
    lambda_-+ = (a+c)/2 -+ hypot((a-c)/2, t). The eigenvector is the larger of
    (t, lam - a) and (lam - c, t), so it never suffers cancellation.
    """
    m = 0.5 * (a + c)
    rad = np.hypot(0.5 * (a - c), t)
    lam = np.stack([m - rad, m + rad], axis=-1)
    T = t[..., None] + np.zeros_like(lam)
    v1 = np.stack([T, lam - a[..., None]], axis=-1)
    v2 = np.stack([lam - c[..., None], T], axis=-1)
    n1 = np.einsum("...i,...i->...", v1, v1)
    n2 = np.einsum("...i,...i->...", v2, v2)
    use1 = (n1 >= n2)[..., None]
    vec = np.where(use1, v1, v2)
    nrm = np.sqrt(np.where(use1[..., 0], n1, n2))[..., None]
    # only an exactly degenerate row (t = 0, a = c) has nrm = 0; leave it unnormalised
    return lam, vec / np.where(nrm > 0.0, nrm, 1.0)
