"""Loss terms of the course as pure functions on tensors.

Every per-example term returns a (N,) tensor: it is summed over pixels or latent dimensions and
left unreduced over the batch, so that ``vae_loss`` can apply the one normalisation that keeps
the terms of the ELBO in proportion (sum within an example, mean over the batch).

Notation for the Gaussian encoder q(z|x) = N(mu, diag(sigma^2)): the networks output ``mu`` and
``logvar`` = log sigma^2, both (N, d). Per latent dimension, with s = sigma^2,

    KL(N(mu, s) || N(0, 1)) = 0.5 (mu^2 + s - 1 - ln s).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    if a.dim() < 2:
        raise ValueError(f"{names} must be batches of shape (N, ...), got shape {tuple(a.shape)}.")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(sigma^2)) || N(0, I)) per example, summed over latent dims: (N, d) -> (N,).

    KL = 0.5 sum_j (mu_j^2 + sigma_j^2 - 1 - ln sigma_j^2), the closed form that makes the VAE's
    regulariser exact, so only the reconstruction term needs sampling.
    """
    _check_same_shape(mu, logvar, "mu and logvar")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def restricted_kl_paper(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The VAE-restriction paper's equation (5): 0.5 sum_j (mu_j^2 + 0.5 (sigma_j^2 - 1)^2).

    Where it comes from: the variance part of the true KL is f(s) = s - 1 - ln s with s = sigma^2.
    Around s = 1, f(1) = f'(1) = 0 and f''(1) = 1, so f(s) ~ (s - 1)^2 / 2: the paper's term is
    this second-order Taylor polynomial. It is not a lower bound on the whole range s < 2 the
    paper claims. With g(s) = f(s) - (s - 1)^2 / 2, g(1) = 0 and g'(s) = -(s - 1)^2 / s <= 0, so
    per dimension

        s - 1 - ln s >= (s - 1)^2 / 2   exactly when s <= 1,

    and for every s > 1 (in particular 1 < s < 2) the paper's term over-estimates the true KL.
    ``kl_lower_bound`` gives a bound that does hold for 0 < s <= 2.

    Beware when training with it: the true KL grows like -ln s as s -> 0, this term stays below
    0.25 per dimension, so nothing stops the encoder variances from collapsing towards zero.
    """
    _check_same_shape(mu, logvar, "mu and logvar")
    variance = logvar.exp()
    return 0.5 * (mu.pow(2) + 0.5 * (variance - 1.0).pow(2)).flatten(1).sum(1)


def kl_lower_bound(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A valid lower bound of ``gaussian_kl`` for 0 < sigma^2 <= 2.

    The bound is 0.5 sum_j (mu_j^2 + 0.25 (sigma_j^2 - 1)^2).

    Proof, per dimension with s = sigma^2: let h(s) = s - 1 - ln s - (s - 1)^2 / 4. Then h(1) = 0
    and h'(s) = 1 - 1/s - (s - 1)/2 = (s - 1)(2 - s) / (2 s), which is negative on (0, 1) and
    positive on (1, 2). So h falls to its minimum 0 at s = 1 and rises after it: h >= 0 on
    (0, 2], i.e. s - 1 - ln s >= (s - 1)^2 / 4. Past s = 2, h decreases again and turns negative
    near s = 2.62, so the bound really needs its domain. (The largest constant that works on all
    of (0, 2] is 1 - ln 2 ~ 0.307, the value of f(s) / (s - 1)^2 at s = 2; 0.25 is a round one.)
    """
    _check_same_shape(mu, logvar, "mu and logvar")
    variance = logvar.exp()
    return 0.5 * (mu.pow(2) + 0.25 * (variance - 1.0).pow(2)).flatten(1).sum(1)


def _check_targets_in_unit_interval(x: torch.Tensor, caller: str) -> None:
    """Raise unless the BCE targets ``x`` are floating point with every value in [0, 1]."""
    if not x.is_floating_point():
        raise TypeError(
            f"{caller}: the targets x must be a floating-point tensor with values in [0, 1], got "
            f"dtype {x.dtype}. Convert them with x.float() (images stored as 0..255 with "
            "x.float() / 255)."
        )
    if x.numel() == 0:
        return
    # One pass over the targets; outside [0, 1] the BCE is no log-likelihood and can go negative
    # (-276 for 0..255 images), so the training runs on without complaint.
    low, high = torch.aminmax(x.detach())
    if bool((low < 0) | (high > 1)):
        raise ValueError(
            f"{caller}: the targets x must lie in [0, 1] (pixel intensities or Bernoulli "
            f"probabilities); got min {low.item():g}, max {high.item():g}. Images stored as "
            "0..255 need dividing by 255: pass x.float() / 255."
        )


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli decoder: -log p(x|z) = sum of pixels' BCE(sigmoid(logits), x): (N, ...) -> (N,).

    Computed from logits with log-sum-exp, so saturated outputs give large finite losses instead
    of log(0) = -inf. For binary x this is exactly the negative log-likelihood in nats.
    Raises ValueError for mismatched shapes or targets outside [0, 1] (e.g. 0..255 images), and
    TypeError for integer targets; both messages say how to convert the images.
    """
    _check_same_shape(logits, x, "logits and x")
    _check_targets_in_unit_interval(x, "reconstruction_bce")
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def reconstruction_mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Gaussian decoder: the sum of squared errors over pixels, (N, ...) -> (N,).

    Convention: for a Gaussian decoder N(x_hat, sigma^2 I) over D pixels,
    -log p(x|z) = SSE / (2 sigma^2) + (D / 2) ln(2 pi sigma^2). This function returns SSE, which
    is that negative log-likelihood for sigma^2 = 1/2, minus the constant (D / 2) ln(pi).
    The decoder variance sets the weight of reconstruction against KL: a smaller sigma^2 means
    sharper images and a weaker prior. Averaging over pixels instead (PyTorch's default 'mean',
    the paper's equation (1)) silently divides by D as well.
    """
    _check_same_shape(x_hat, x, "x_hat and x")
    return (x_hat - x).pow(2).flatten(1).sum(1)


def vae_loss(reconstruction: torch.Tensor, kl: torch.Tensor) -> dict[str, torch.Tensor]:
    """The negative ELBO, averaged over the batch: {"total", "reconstruction", "kl"}, scalars.

    Takes the per-example terms, (N,) each, already summed over pixels and latent dimensions.
    Summing within an example and averaging over examples is the one normalisation under which
    "total" is -ELBO per image and the batch size does not change the scale. The common bug,
    F.binary_cross_entropy(..., reduction="mean") plus a summed KL, averages over the 784 pixels
    of an MNIST image too, which weighs the KL 784 times too strongly: the codes collapse onto
    the prior and reconstructions blur.
    """
    if reconstruction.dim() != 1 or reconstruction.shape != kl.shape:
        raise ValueError(
            "Expected per-example terms of shape (N,) each, got "
            f"{tuple(reconstruction.shape)} and {tuple(kl.shape)}. Sum over pixels and latent "
            "dimensions first (reconstruction_bce, gaussian_kl do)."
        )
    reconstruction, kl = reconstruction.mean(), kl.mean()
    return {"total": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}
