"""Shared test helpers: NumPy references of the attention math, written from the papers."""

import numpy as np


def np_softmax(scores, mask=None):
    """Softmax over the last axis of (B, Tq, Te) scores; masked steps 0, all-masked rows 0."""
    scores = np.asarray(scores, np.float64)
    if mask is None:
        mask = np.ones(scores.shape[:1] + scores.shape[-1:], bool)
    keep = np.broadcast_to(np.asarray(mask, bool)[:, None, :], scores.shape)
    shifted = np.where(keep, scores, -np.inf)
    top = np.max(shifted, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(keep, np.exp(np.where(keep, scores, 0.0) - top), 0.0)
    total = e.sum(-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0)


def np_hardmax(scores, mask=None):
    """One-hot of the first highest unmasked score; all-masked rows 0."""
    scores = np.asarray(scores, np.float64)
    if mask is None:
        mask = np.ones(scores.shape[:1] + scores.shape[-1:], bool)
    keep = np.broadcast_to(np.asarray(mask, bool)[:, None, :], scores.shape)
    out = np.zeros(scores.shape)
    for index in np.ndindex(scores.shape[:-1]):
        if keep[index].any():
            masked = np.where(keep[index], scores[index], -np.inf)
            out[index + (int(np.argmax(masked)),)] = 1.0
    return out


def np_cumprod_exclusive(x, axis=0):
    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    shifted = np.concatenate([np.ones_like(x[:1]), x[:-1]], axis=0)
    return np.moveaxis(np.cumprod(shifted, axis=0), 0, axis)


def np_monotonic_recursive(p, previous):
    """Raffel et al. 2017: q_j = (1 - p_{j-1}) q_{j-1} + a_prev_j, attention = p q."""
    p, previous = np.asarray(p, np.float64), np.asarray(previous, np.float64)
    q = np.zeros_like(p)
    for j in range(p.shape[1]):
        q[:, j] = previous[:, j] + ((1.0 - p[:, j - 1]) * q[:, j - 1] if j > 0 else 0.0)
    return p * q


def np_monotonic_parallel(p, previous):
    """p * cumprod_excl(1-p) * cumsum(a_prev / clip(cumprod_excl(1-p), 1e-10, 1))."""
    p, previous = np.asarray(p, np.float64), np.asarray(previous, np.float64)
    cumprod = np_cumprod_exclusive(1.0 - p, axis=1)
    return p * cumprod * np.cumsum(previous / np.clip(cumprod, 1e-10, 1.0), axis=1)


def np_monotonic_hard(p, previous):
    """p <- p * cumsum(a_prev); attention = p * cumprod_excl(1 - p)."""
    p, previous = np.asarray(p, np.float64), np.asarray(previous, np.float64)
    p = p * np.cumsum(previous, axis=1)
    return p * np_cumprod_exclusive(1.0 - p, axis=1)


NP_MONOTONIC = {
    "recursive": np_monotonic_recursive,
    "parallel": np_monotonic_parallel,
    "hard": np_monotonic_hard,
}
