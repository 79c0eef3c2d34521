"""Image quality per image of a batch (N, C, H, W): PSNR and SSIM against a reference image, and the
variance of the Laplacian as a sharpness score that needs no reference.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Sharpness per image (N,): the variance of the Laplacian of the grey-level image.

    With grey levels g (the mean of the channels), the discrete Laplacian
    (Lg)[i, j] = g[i-1, j] + g[i+1, j] + g[i, j-1] + g[i, j+1] - 4 g[i, j] responds to edges and
    fine texture and vanishes on smooth ramps; blurring spreads an edge over more pixels and
    shrinks the response, so the variance of Lg over the (S - 2)^2 interior pixels falls. Compare
    it only between images of the same size and value range (for pix2pix, against the targets'
    own value: L1-only outputs fall below it, GAN outputs come closer).
    """
    if images.dim() != 4 or min(images.shape[-2:]) < 3:
        raise ValueError(
            f"Expected images of shape (N, C, H, W) with H, W >= 3, got {tuple(images.shape)}."
        )
    grey = images.float().mean(dim=1, keepdim=True)  # (N, 1, H, W)
    kernel = torch.tensor(
        [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device
    )
    response = F.conv2d(grey, kernel.view(1, 1, 3, 3))  # (N, 1, H - 2, W - 2)
    return response.flatten(1).var(dim=1)


# How far past the stated value range the images may reach: [0, 1] images plus unclipped noise
# stay well inside 2 x data_range in magnitude, while 0..255 images with data_range=1 are 255 x.
RANGE_SLACK = 2.0


def _check_image_pair(x: torch.Tensor, y: torch.Tensor, data_range: float, caller: str) -> None:
    """Raise unless x and y are float (N, C, H, W) batches whose values fit ``data_range``.

    Images are expected in [0, data_range] (or a range of that width around 0, such as [-1, 1]
    with data_range=2); values of magnitude up to RANGE_SLACK * data_range pass, so noisy or
    unclipped images are accepted, but a larger one means data_range does not describe them.
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"Expected two image batches of the same shape (N, C, H, W), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}."
        )
    for name, images in (("x", x), ("y", y)):
        if not images.is_floating_point():
            raise TypeError(
                f"{caller} needs floating-point images, got {name} of dtype {images.dtype}. "
                f"Convert 0..255 images with {name}.float() / 255 (values in [0, 1], the default "
                "data_range=1.0)."
            )
    if isinstance(data_range, bool) or not isinstance(data_range, numbers.Real):
        raise TypeError(
            f"{caller}: data_range must be a number, the width of the images' value range (1.0 "
            f"for [0, 1], 255 for 0..255, 2 for [-1, 1]); got {data_range!r}."
        )
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(
            f"{caller}: data_range must be positive and finite, the width of the images' value "
            f"range (1.0 for [0, 1], 255 for 0..255, 2 for [-1, 1]); got {data_range!r}."
        )
    if x.numel() == 0:
        return
    # One min/max pass per batch: the PSNR of 0..255 images with data_range=1 is -13.8 dB and their
    # SSIM is near 1 for any pair, numbers that look plausible enough to go unnoticed.
    bound = RANGE_SLACK * data_range
    spans = [torch.aminmax(images.detach()) for images in (x, y)]
    if any(bool((low < -bound) | (high > bound)) for low, high in spans):
        (x_low, x_high), (y_low, y_high) = spans
        raise ValueError(
            f"{caller}: the images' values do not fit data_range={data_range:g}: x spans "
            f"[{x_low.item():g}, {x_high.item():g}] and y [{y_low.item():g}, {y_high.item():g}], "
            f"but images in [0, {data_range:g}] (magnitudes up to {bound:g} allowed for noise) "
            f"were expected. For images stored as 0..255 pass data_range=255, or scale them to "
            "[0, 1] with x.float() / 255 and keep the default data_range=1.0."
        )


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, (N, C, H, W) twice -> (N,).

    PSNR = 10 log10(data_range^2 / MSE), the MSE taken over all pixels and channels of an
    image. Identical images give +inf; every halving of the error adds 6.02 dB. ``data_range`` is
    the width of the images' value range: 1.0 for [0, 1], 255 for 0..255, 2 for [-1, 1].

    Raises ValueError for mismatched shapes, a data_range that is not positive, or values far
    outside it (such as 0..255 images with the default data_range=1.0: pass data_range=255 or
    divide the images by 255); TypeError for integer images (convert with ``x.float() / 255``).
    """
    _check_image_pair(x, y, data_range, "psnr")
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def gaussian_window(
    sigma: float = 1.5, radius: int = 5, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """A normalised 1-D Gaussian of 2 radius + 1 taps, (2 radius + 1,): 11 taps as in Wang et al."""
    offsets = torch.arange(-radius, radius + 1, dtype=dtype)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def _local_mean(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Gaussian-weighted mean over every fully inside window: (M, 1, H, W) ->
    (M, 1, H - 2r, W - 2r).

    The 2-D Gaussian is separable, so two 1-D passes replace one 11 x 11 convolution.
    """
    taps = len(window)
    rows = F.conv2d(images, window.view(1, 1, taps, 1))
    return F.conv2d(rows, window.view(1, 1, 1, taps))


def ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, (N, C, H, W) twice -> (N,).

    With Gaussian-weighted local statistics (11 taps, sigma 1.5) mu_x, mu_y, sigma_x^2, sigma_y^2,
    sigma_xy around every pixel,

        SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) /
        ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),

    C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = data_range, averaged over the positions where the
    window lies fully inside the image, then over channels. Same conventions as scikit-image's
    ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
    (which pads, then crops the border the padding influenced).

    Raises ValueError and TypeError as ``psnr`` does (0..255 images need data_range=255 or
    dividing by 255, integer images ``x.float() / 255``), and ValueError for images smaller than
    the window.
    """
    _check_image_pair(x, y, data_range, "ssim")
    radius = int(3.5 * sigma + 0.5)  # scipy's truncation at 3.5 sigma: 11 taps for sigma 1.5
    if min(x.shape[-2:]) < 2 * radius + 1:
        side = 2 * radius + 1
        raise ValueError(
            f"SSIM needs images of at least {side} x {side}, got {tuple(x.shape[-2:])}."
        )
    n, c, h, w = x.shape
    window = gaussian_window(sigma, radius, x.dtype).to(x.device)
    # Channels become separate images: (N * C, 1, H, W); then five statistics in one batch.
    x, y = x.reshape(n * c, 1, h, w), y.reshape(n * c, 1, h, w)
    stats = _local_mean(torch.cat([x, y, x * x, y * y, x * y]), window)  # (5 N C, 1, H', W')
    mu_x, mu_y, xx, yy, xy = stats.chunk(5)
    var_x, var_y, cov_xy = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.reshape(n, -1).mean(1)  # mean over channels and positions
