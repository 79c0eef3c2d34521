"""PCA against scikit-learn and a float64 eigendecomposition; principal angles on known geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SklearnPCA

from course_lib.baselines.pca import PCA, fit_pca, principal_angles


def correlated_data(n: int = 300, d: int = 6, seed: int = 0) -> torch.Tensor:
    """(n, d) data with well separated variances along random directions and a non-zero mean."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.2][:d])
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    latent = torch.randn(n, d, generator=g, dtype=torch.float64) * scales.double()
    return latent @ basis.T + torch.arange(d, dtype=torch.float64)


def align_signs(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    signs = np.sign(np.sum(rows * reference, axis=1, keepdims=True))
    return rows * signs


@pytest.mark.parametrize("k", [1, 3, 6])
def test_components_are_orthonormal(k):
    pca = fit_pca(correlated_data(), k)
    c = pca.components
    assert c.shape == (k, 6) and pca.mean.shape == (6,) and pca.explained_variance.shape == (k,)
    torch.testing.assert_close(c @ c.T, torch.eye(k, dtype=c.dtype), atol=1e-12, rtol=0)


@pytest.mark.parametrize("k", [2, 4])
def test_matches_sklearn(k):
    x = correlated_data()
    ours = fit_pca(x, k)
    ref = SklearnPCA(n_components=k, svd_solver="full").fit(x.numpy())
    np.testing.assert_allclose(ours.mean.numpy(), ref.mean_, atol=1e-12)
    signs = np.sign(
        np.sum(ours.components.numpy() * ref.components_, axis=1)
    )  # (k,), one flip per component
    np.testing.assert_allclose(ours.components.numpy() * signs[:, None], ref.components_, atol=1e-9)
    np.testing.assert_allclose(ours.explained_variance.numpy(), ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.encode(x).numpy() * signs, ref.transform(x.numpy()), atol=1e-9)


def test_matches_eigendecomposition_of_the_covariance():
    x = correlated_data(n=200, d=5, seed=3)
    ours = fit_pca(x, 5)
    xn = x.numpy()
    cov = np.cov(xn, rowvar=False)  # (D, D), divides by N - 1
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order].T  # rows = eigenvectors, decreasing
    np.testing.assert_allclose(ours.explained_variance.numpy(), values, rtol=1e-10)
    np.testing.assert_allclose(align_signs(ours.components.numpy(), vectors), vectors, atol=1e-9)
    # Decreasing variance, and the total equals the trace of the covariance.
    assert np.all(np.diff(ours.explained_variance.numpy()) < 0)
    assert ours.explained_variance.sum().item() == pytest.approx(np.trace(cov), rel=1e-12)


def test_explained_variance_is_the_variance_of_the_codes():
    x = correlated_data()
    pca = fit_pca(x, 3)
    codes = pca.encode(x)  # (N, 3)
    torch.testing.assert_close(codes.var(0), pca.explained_variance, rtol=1e-10, atol=0)
    torch.testing.assert_close(codes.mean(0), torch.zeros(3, dtype=codes.dtype), atol=1e-10, rtol=0)


def test_full_rank_reconstruction_is_exact_and_error_shrinks_with_k():
    x = correlated_data()
    errors = [((fit_pca(x, k).reconstruct(x) - x) ** 2).sum(1).mean().item() for k in range(1, 7)]
    assert errors[-1] < 1e-20
    assert all(a > b for a, b in zip(errors, errors[1:]))
    # The error of keeping k components is the sum of the dropped variances (times (N-1)/N).
    full = fit_pca(x, 6).explained_variance
    n = len(x)
    for k in range(1, 6):
        assert errors[k - 1] == pytest.approx(full[k:].sum().item() * (n - 1) / n, rel=1e-9)


def test_image_shaped_input_and_dtype_are_preserved():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(40, 1, 4, 4, generator=g)  # float32
    pca = fit_pca(images, 16)
    assert pca.components.dtype == torch.float32 and pca.components.shape == (16, 16)
    back = pca.reconstruct(images)
    assert back.shape == images.shape
    torch.testing.assert_close(back, images, atol=1e-5, rtol=0)
    assert isinstance(pca, PCA)


@pytest.mark.parametrize("k", [0, -1, 7])
def test_invalid_k_raises_value_error(k):
    with pytest.raises(ValueError, match=f"got {k}"):
        fit_pca(correlated_data(), k)


def test_k_larger_than_the_number_of_samples_is_rejected():
    x = correlated_data(n=4, d=6)
    fit_pca(x, 4)
    with pytest.raises(ValueError, match="between 1 and 4"):
        fit_pca(x, 5)


def test_principal_angles_same_subspace_different_basis_is_zero():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(10, 3, generator=g, dtype=torch.float64)
    mix = torch.randn(3, 3, generator=g, dtype=torch.float64) + 3 * torch.eye(
        3, dtype=torch.float64
    )
    angles = principal_angles(a, a @ mix)  # same column space, another basis
    assert angles.shape == (3,)
    torch.testing.assert_close(angles, torch.zeros(3, dtype=torch.float64), atol=1e-5, rtol=0)


def test_principal_angles_orthogonal_subspaces_are_ninety_degrees():
    eye = torch.eye(5)
    angles = principal_angles(eye[:, :2], 2.0 * eye[:, 2:4])
    torch.testing.assert_close(
        angles, torch.full((2,), 90.0, dtype=torch.float64), atol=1e-9, rtol=0
    )


@pytest.mark.parametrize("degrees", [1.0, 30.0, 60.0, 89.0])
def test_principal_angles_of_a_known_rotation(degrees):
    t = math.radians(degrees)
    a = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)
    b = torch.tensor([[math.cos(t)], [math.sin(t)], [0.0]], dtype=torch.float64)
    assert principal_angles(a, b).item() == pytest.approx(degrees, abs=1e-9)


def test_principal_angles_are_ascending():
    # The docstring promises ascending order: the smallest angle (the shared direction) first.
    # span(e1, e2) against span(e1, cos t e2 + sin t e3): one shared direction, one at angle t.
    t = math.radians(30.0)
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0], [0.0, math.cos(t)], [0.0, math.sin(t)]], dtype=torch.float64)
    angles = principal_angles(a, b)
    assert sorted(angles.tolist()) == pytest.approx([0.0, 30.0], abs=1e-9)
    assert angles.tolist() == pytest.approx([0.0, 30.0], abs=1e-9), (
        "docstring promises ascending order"
    )


def test_pca_subspace_matches_a_planted_subspace():
    # Data spread mostly in a planted 2-D plane: PCA with k=2 must find that plane.
    g = torch.Generator().manual_seed(4)
    plane, _ = torch.linalg.qr(torch.randn(8, 2, generator=g, dtype=torch.float64))  # (D, 2)
    x = torch.randn(500, 2, generator=g, dtype=torch.float64) * 3 @ plane.T + 0.01 * torch.randn(
        500, 8, generator=g, dtype=torch.float64
    )
    pca = fit_pca(x, 2)
    assert principal_angles(pca.components.T, plane).max() < 1.0
