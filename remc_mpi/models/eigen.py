"""Closed-form eigen-solvers for batches of small real symmetric tridiagonal matrices.

The cluster Hamiltonians are 2x2 and 3x3 symmetric tridiagonal matrices, one per replica.
LAPACK on an (R, 3, 3) stack costs microseconds per matrix in call overhead; these solvers
work on whole arrays of matrices at once (every argument broadcasts), with a few dozen vector
operations in all, so the initial and final Hamiltonians of R replicas go through one call.

3x3, A = [[a1, b1, 0], [b1, a2, b2], [0, b2, a3]]: eigenvalues by the trigonometric solution
of the characteristic cubic,
    q = tr(A)/3,  p = sqrt(tr((A - qI)^2)/6),  r = det((A - qI)/p)/2,
    lambda_k = q + 2p cos(arccos(r)/3 + 2 pi k/3),
then one Newton step on det(A - lambda I), kept only where it lowers the residual, which
restores full precision near the degeneracies where arccos is ill-conditioned.
Eigenvectors are the largest of the three cross products of the rows of A - lambda I, which
never all vanish for a simple eigenvalue (also as the couplings go to zero).
"""

from __future__ import annotations

import numpy as np

_TWO_PI_3 = 2.0 * np.pi / 3.0


def _char_poly(lam, a1, a2, a3, b1sq, b2sq):
    """det(A - lam I) and its derivative in lam."""
    d1, d2, d3 = a1 - lam, a2 - lam, a3 - lam
    m = d2 * d3 - b2sq
    return d1 * m - b1sq * d3, b1sq - m - d1 * (d2 + d3)


def tridiag3_eigvals(a1, a2, a3, b1, b2) -> np.ndarray:
    """Ascending eigenvalues, shape (..., 3), of the tridiagonal matrices (broadcast).

    Written for small batches: every line is one or two vector operations, no context
    managers or clip calls (their fixed cost dominates at R ~ 32).
    """
    b1sq, b2sq = b1 * b1, b2 * b2
    q = (a1 + a2 + a3) * (1.0 / 3.0)
    d1, d2, d3 = a1 - q, a2 - q, a3 - q
    m = d2 * d3 - b2sq
    p = np.sqrt((d1 * d1 + d2 * d2 + d3 * d3 + 2.0 * (b1sq + b2sq)) * (1.0 / 6.0))
    p = np.maximum(p, 1e-300)  # p = 0 only for a multiple of the identity; r is then 0
    r = (d1 * m - b1sq * d3) / (2.0 * p * p * p)
    phi = np.arccos(np.minimum(np.maximum(r, -1.0), 1.0)) * (1.0 / 3.0)
    q, p = q[..., None], p[..., None]
    lam = q + 2.0 * p * np.cos(phi[..., None] + np.array([_TWO_PI_3, 2 * _TWO_PI_3, 0.0]))
    lam[..., 1] = 3.0 * q[..., 0] - lam[..., 2] - lam[..., 0]
    args = tuple(np.asarray(x)[..., None] for x in (a1, a2, a3, b1sq, b2sq))
    f, df = _char_poly(lam, *args)
    cand = lam - f / np.where(df == 0.0, np.inf, df)
    fc, _ = _char_poly(cand, *args)
    return np.where(np.abs(fc) < np.abs(f), cand, lam)


def tridiag3_eigvec_parts(lam, a1, a2, a3, b1, b2):
    """Unnormalised eigenvectors as components (x0, x1, x2), each shaped like ``lam``, and
    their squared norm. lam has shape (..., K); the other arguments broadcast to (...).

    Rows of A - lam I: r1 = (d1, b1, 0), r2 = (b1, d2, b2), r3 = (0, b2, d3), d = a - lam.
    r1 x r2 = (b1 b2, -d1 b2, d1 d2 - b1^2), r1 x r3 = (b1 d3, -d1 d3, d1 b2),
    r2 x r3 = (d2 d3 - b2^2, -b1 d3, b1 b2): each is orthogonal to two rows, hence an
    eigenvector; the one of largest norm is taken.
    """
    a1, a2, a3, b1, b2 = (np.asarray(x, dtype=np.float64)[..., None] for x in (a1, a2, a3, b1, b2))
    d1, d2, d3 = a1 - lam, a2 - lam, a3 - lam
    b12 = np.broadcast_to(b1 * b2, lam.shape)
    c12 = (b12, -d1 * b2, d1 * d2 - b1 * b1)
    c13 = (b1 * d3, -d1 * d3, d1 * b2)
    c23 = (d2 * d3 - b2 * b2, -b1 * d3, b12)
    n12 = c12[0] * c12[0] + c12[1] * c12[1] + c12[2] * c12[2]
    n13 = c13[0] * c13[0] + c13[1] * c13[1] + c13[2] * c13[2]
    n23 = c23[0] * c23[0] + c23[1] * c23[1] + c23[2] * c23[2]
    use13 = n13 > n12
    best = np.where(use13, n13, n12)
    use23 = n23 > best
    parts = tuple(np.where(use23, z, np.where(use13, y, x)) for x, y, z in zip(c12, c13, c23))
    return parts, np.where(use23, n23, best)


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
