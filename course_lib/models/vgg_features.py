"""A frozen VGG-19 feature extractor for neural style transfer (Gatys, Ecker & Bethge, CVPR 2016).

Gatys et al. describe an image by the activations of the 16 convolutional layers of VGG-19
(Simonyan & Zisserman 2015), named ``conv<block>_<index>``: block 1 and 2 have two layers each,
blocks 3, 4 and 5 four each, and a 2 x 2 pooling closes every block. **A layer's name refers to
its rectified output**, ReLU(conv(x)), as in the paper: ``conv4_2`` is the output of the ReLU
that follows the second convolution of block 4 (index 22 of torchvision's ``vgg19().features``).
The paper matches the *style* (Gram matrices) at ``STYLE_LAYERS`` = conv1_1, conv2_1, conv3_1,
conv4_1, conv5_1 and the *content* at ``CONTENT_LAYER`` = conv4_2.

``VGGFeatures(layers, weights=..., pooling=...)`` returns a dict of those activations for RGB
images in [0, 1] of shape (B, 3, H, W); it applies the ImageNet normalisation itself and keeps
the network only up to the deepest requested layer, so no compute is spent beyond it. The paper
replaces max pooling by average pooling (``pooling="avg"``), which it found to give slightly
better results; every ``MaxPool2d`` is then swapped for an ``AvgPool2d`` of the same size. (The
paper also rescaled the weights so that every filter's mean activation is one; that is not done
here: the Gram matrices are normalised by the loss code instead.)

Weights are chosen explicitly, never substituted behind the user's back:

* ``weights="pretrained"``: torchvision's ImageNet weights ``VGG19_Weights.IMAGENET1K_V1``
  (file ``vgg19-dcbb9e9d.pth``, 548 MB), through torchvision's own mechanism: the torch hub
  cache ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/hub/checkpoints`` by default), and a
  download into it when the file is not there. The download is checked against the SHA-256
  prefix in the file name; a file already in the cache is checked here against the same prefix
  before it is read, and it is read with ``weights_only=True`` (no arbitrary unpickling). These
  are torchvision's retraining of VGG-19, not the original Caffe weights Gatys et al. used, so
  results are close to the paper's but not identical. Without the file and without internet,
  ``WeightsUnavailableError`` explains the two fixes.
* ``weights="random"``: the same architecture with torchvision's initialisation (Kaiming normal,
  fan-out, zero biases) drawn from a generator seeded with ``seed``. An untrained network still
  gives texture-like style results (Ustyuzhaninov et al., ICLR 2017, studied such random
  networks), but not those of the paper; the extractor's ``source`` string says so, for the
  notebook to print.

``pretrained_weights_available()`` looks only at the local cache (no network), so a notebook can
pick one of the two and announce its choice; importing this module touches no network::

    weights = "pretrained" if pretrained_weights_available() else "random"
    extractor = VGGFeatures(PAPER_LAYERS, weights=weights, pooling="avg").to(device)
    print(extractor.source)
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import torch
import torch.hub
from torch import nn
from torchvision.models import VGG19_Weights, vgg19

from course_lib.data.download import CorruptDataError

Tensor = torch.Tensor

PRETRAINED_WEIGHTS = VGG19_Weights.IMAGENET1K_V1

# (block, number of convolutions) of VGG-19, configuration "E" of Simonyan & Zisserman.
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
VGG19_LAYERS: tuple[str, ...] = tuple(
    f"conv{block}_{index}" for block, count in _BLOCKS for index in range(1, count + 1)
)
STYLE_LAYERS: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"
CONTENT_LAYERS: tuple[str, ...] = (CONTENT_LAYER,)
PAPER_LAYERS: tuple[str, ...] = STYLE_LAYERS + CONTENT_LAYERS

# The statistics of the ImageNet training images, which torchvision's VGG-19 was trained on.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WEIGHT_CHOICES = ("pretrained", "random")
POOLING_CHOICES = ("max", "avg")


class WeightsUnavailableError(RuntimeError):
    """The pretrained VGG-19 weights are neither in the local cache nor downloadable."""


# ---------------------------------------------------------------------------------------------
# The pretrained weights in torch hub's cache


def pretrained_weights_file() -> str:
    """The file name torchvision uses for the pretrained weights: ``vgg19-dcbb9e9d.pth``."""
    return os.path.basename(urlparse(PRETRAINED_WEIGHTS.url).path)


def pretrained_weights_path() -> Path:
    """Where torchvision looks for (and downloads) the weights: ``<torch hub dir>/checkpoints/``.

    The hub directory is ``$TORCH_HOME/hub``; ``$TORCH_HOME`` defaults to ``~/.cache/torch``.
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / pretrained_weights_file()


def pretrained_weights_available() -> bool:
    """Whether the pretrained weights file is in the local cache. Never touches the network.

    Only the file's presence is checked (hashing 548 MB takes a second or two); building
    ``VGGFeatures(weights="pretrained")`` checks its digest before reading it.
    """
    path = pretrained_weights_path()
    return path.is_file() and path.stat().st_size > 0


def _expected_hash_prefix() -> str:
    # torch hub's convention: "<name>-<first hex digits of the SHA-256>.<ext>".
    match = re.search(r"-([0-9a-f]{8,})\.", pretrained_weights_file())
    if match is None:  # pragma: no cover - torchvision's file names always carry the prefix
        raise RuntimeError(
            f"No SHA-256 prefix in torchvision's file name {pretrained_weights_file()!r}"
        )
    return match.group(1)


def _torch_home_text() -> str:
    value = os.environ.get("TORCH_HOME", "").strip()
    return f"$TORCH_HOME={value}" if value else "$TORCH_HOME unset, so the default ~/.cache/torch"


def _fixes(cache: Path) -> str:
    size_mb = PRETRAINED_WEIGHTS.meta.get("_file_size")
    size = f" ({size_mb:.0f} MB)" if isinstance(size_mb, (int, float)) else ""
    return (
        "Fix, one of:\n"
        f"  1. connect to the internet once and run this again: torchvision downloads "
        f"{pretrained_weights_file()}{size} from {PRETRAINED_WEIGHTS.url} into {cache} and "
        f"checks it; or copy that file from a machine that has it into {cache} (or set "
        "$TORCH_HOME to a folder whose hub/checkpoints/ holds it);\n"
        '  2. or pass weights="random" knowingly: an untrained VGG-19 of the same architecture, '
        "which gives texture-like results, NOT those of the pretrained network of Gatys et al."
    )


def _check_cached_digest(path: Path) -> None:
    """Raise ``CorruptDataError`` unless the cached file's SHA-256 starts with the expected prefix.

    torch hub checks the digest only while downloading; a file copied into the cache by hand (or
    damaged there) would otherwise be unpickled unchecked.
    """
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    expected = _expected_hash_prefix()
    if not digest.startswith(expected):
        raise CorruptDataError(
            f"The cached VGG-19 weights {path} have SHA-256 {digest}, but torchvision's "
            f"{pretrained_weights_file()} starts with {expected}: the file is damaged, incomplete "
            f"or another file. Delete it, then\n{_fixes(path.parent)}"
        )


def _load_pretrained_state_dict(progress: bool) -> dict[str, Tensor]:
    """torchvision's state dict of ``VGG19_Weights.IMAGENET1K_V1``, from the cache or downloaded."""
    path = pretrained_weights_path()
    cached = path.is_file()
    if cached:
        _check_cached_digest(path)
    try:
        # torchvision's own loader (torch hub): download into the cache when missing, verifying
        # the digest; read with weights_only=True, which torchvision's vgg19() does not ask for.
        return PRETRAINED_WEIGHTS.get_state_dict(
            progress=progress, check_hash=True, weights_only=True
        )
    except Exception as error:
        if cached:
            raise  # a verified file that fails to load is a real error, not a missing file
        raise WeightsUnavailableError(
            f"The pretrained VGG-19 weights are not available: torchvision wanted the file "
            f"{pretrained_weights_file()} in the torch hub cache {path.parent} "
            f"({_torch_home_text()}), the file is not there, and downloading it failed "
            f"({type(error).__name__}: {error}).\n"
            f"{_fixes(path.parent)}"
        ) from error


# ---------------------------------------------------------------------------------------------
# The architecture


def _architecture() -> nn.Sequential:
    """torchvision's ``vgg19().features``, built on the meta device (no memory, no random draws)."""
    with torch.device("meta"):
        return vgg19(weights=None).features


@functools.lru_cache(maxsize=1)
def _relu_indices() -> dict[str, int]:
    """The index in ``vgg19().features`` of the ReLU that each layer name refers to."""
    indices: dict[str, int] = {}
    block, conv = 1, 0
    for index, module in enumerate(_architecture()):
        if isinstance(module, nn.Conv2d):
            conv += 1
        elif isinstance(module, nn.ReLU):
            indices[f"conv{block}_{conv}"] = index
        elif isinstance(module, nn.MaxPool2d):
            block, conv = block + 1, 0
    if tuple(indices) != VGG19_LAYERS:  # pragma: no cover - guards against a changed torchvision
        raise RuntimeError(f"Unexpected VGG-19 layout in torchvision: {list(indices)}")
    return indices


def _check_choice(value: object, name: str, choices: tuple[str, ...], hint: str) -> str:
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}. {hint}")
    return value


def _check_layers(layers: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    requested = tuple(dict.fromkeys(layers))  # drop repeats, keep the order
    if not requested:
        raise ValueError(f"Request at least one layer, for example {PAPER_LAYERS}.")
    unknown = [layer for layer in requested if layer not in VGG19_LAYERS]
    if unknown:
        raise ValueError(
            f"Unknown VGG-19 layer name(s) {unknown}. Valid names (each the ReLU output of that "
            f"convolution): {', '.join(VGG19_LAYERS)}."
        )
    return requested


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}.")


def _capture_indices(layers: tuple[str, ...]) -> dict[int, str]:
    """The index in ``vgg19().features`` of each requested layer's ReLU, mapped to its name."""
    relu_index = _relu_indices()
    return {relu_index[layer]: layer for layer in layers}


def _truncated_architecture(stop: int) -> nn.Sequential:
    """The first ``stop`` modules of VGG-19's features, on the CPU, weights not yet set."""
    body = _architecture()[:stop]  # Sequential slicing keeps torchvision's indices as names
    return body.to_empty(device="cpu")


def _load_pretrained_weights(body: nn.Sequential, progress: bool) -> str:
    """Load torchvision's verified ImageNet weights into ``body``; return the ``source`` text."""
    state = _load_pretrained_state_dict(progress)
    prefix = "features."
    kept = {
        key[len(prefix) :]: value
        for key, value in state.items()
        if key.startswith(prefix) and int(key[len(prefix) :].split(".")[0]) < len(body)
    }
    del state
    body.load_state_dict(kept, strict=True)
    return (
        f"VGG-19 with pretrained ImageNet weights (torchvision {PRETRAINED_WEIGHTS!r}, file "
        f"{pretrained_weights_file()}): the network of Gatys et al., but trained by "
        "torchvision rather than the original Caffe weights they used, so results are "
        "close to the paper's, not identical."
    )


@torch.no_grad()
def _initialise_random_weights(body: nn.Sequential, seed: int) -> str:
    """torchvision's initialisation of ``body``, seeded; return the ``source`` text."""
    generator = torch.Generator().manual_seed(seed)
    for module in body:  # in network order: a shallower cut gets the same first layers
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(
                module.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
            nn.init.zeros_(module.bias)
    return (
        f"VGG-19 with untrained random weights (seed {seed}): NOT the pretrained network of "
        "Gatys et al.; expect texture-like, weaker style results."
    )


def _use_average_pooling(body: nn.Sequential) -> None:
    """Replace every max pooling of ``body`` by an average pooling of the same geometry."""
    for name, module in body.named_children():
        if isinstance(module, nn.MaxPool2d):
            average = nn.AvgPool2d(
                module.kernel_size, module.stride, module.padding, module.ceil_mode
            )
            setattr(body, name, average)


class VGGFeatures(nn.Module):
    """Frozen VGG-19 that maps RGB images in [0, 1] to a dict of named ReLU activations.

    ``layers``: names among ``VGG19_LAYERS`` (default: the paper's ``STYLE_LAYERS`` and
    ``CONTENT_LAYER``); each is the ReLU output of that convolution. The network is cut right
    after the deepest one.
    ``weights``: ``"pretrained"`` or ``"random"``, required (see the module docstring).
    ``pooling``: ``"max"`` (torchvision's network) or ``"avg"`` (the paper's choice).
    ``seed``: the seed of the random weights; ignored for ``"pretrained"``.
    ``progress``: show torchvision's download progress bar.
    ``check_range``: reject inputs outside [0, 1] (costs one reduction per call; switch off only
    for an optimisation that lets the image leave [0, 1] on purpose).

    Calling it on (B, 3, H, W) float images returns ``{name: (B, C, H', W')}`` in the order of
    ``layers``. Gradients flow to the images, never to the parameters, which are frozen; the
    module stays in eval mode even when a parent calls ``.train()``. ``source`` says in words
    which weights it uses.
    """

    def __init__(
        self,
        layers: Sequence[str] | str = PAPER_LAYERS,
        *,
        weights: str,
        pooling: str = "max",
        seed: int = 0,
        progress: bool = True,
        check_range: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _check_layers(layers)
        self.weights = _check_choice(
            weights,
            "weights",
            WEIGHT_CHOICES,
            'There is no default: "pretrained" is the ImageNet network of the paper (needs the '
            'weights file, see pretrained_weights_available()); "random" is an untrained network.',
        )
        self.pooling = _check_choice(
            pooling,
            "pooling",
            POOLING_CHOICES,
            'Gatys et al. use "avg"; torchvision\'s VGG-19 uses "max".',
        )
        _check_seed(seed)
        self.check_range = bool(check_range)
        self._capture = _capture_indices(self.layers)  # {index in the body: layer name}
        body = _truncated_architecture(max(self._capture) + 1)
        if self.weights == "pretrained":
            self.seed: int | None = None
            self.source = _load_pretrained_weights(body, progress)
        else:
            self.seed = seed
            self.source = _initialise_random_weights(body, seed)
        if self.pooling == "avg":
            _use_average_pooling(body)
        self.body = body
        self._n_pools = sum(isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) for module in body)
        self._register_imagenet_normalisation()
        self._freeze()

    def _register_imagenet_normalisation(self) -> None:
        """The ImageNet mean and standard deviation, (1, 3, 1, 1), which ``forward`` applies."""
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _freeze(self) -> None:
        """No parameter takes gradients, and the module is in eval mode (and stays there)."""
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Stay in eval mode: the extractor is frozen, whatever a parent module asks."""
        return super().train(False)

    def _check_images(self, images: Tensor) -> None:
        if not isinstance(images, Tensor):
            raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}.")
        if images.ndim != 4 or images.shape[1] != 3:
            hint = " Add a batch axis with .unsqueeze(0)." if images.ndim == 3 else ""
            raise ValueError(
                f"images must have shape (B, 3, H, W) (RGB), got {tuple(images.shape)}.{hint}"
            )
        if not images.is_floating_point():
            raise ValueError(
                f"images must be floating-point RGB in [0, 1], got dtype {images.dtype}; "
                "divide uint8 images by 255."
            )
        smallest = 2**self._n_pools
        if images.shape[2] < smallest or images.shape[3] < smallest:
            raise ValueError(
                f"images of {images.shape[2]} x {images.shape[3]} pixels are too small for the "
                f"layers {self.layers}: the network up to the deepest one halves the size "
                f"{self._n_pools} times, so H and W must be at least {smallest}."
            )
        if self.check_range and images.numel():
            low, high = torch.aminmax(images.detach())
            if not (bool(low >= 0) and bool(high <= 1)):  # NaN fails both comparisons
                raise ValueError(
                    "images must be RGB values in [0, 1], got "
                    f"{low.item():.4g}..{high.item():.4g}. The ImageNet normalisation is applied "
                    "inside; clamp an optimised image with "
                    "image.data.clamp_(0, 1) after each step."
                )

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        self._check_images(images)
        x = (images - self.mean) / self.std
        found: dict[str, Tensor] = {}
        for index, module in enumerate(self.body):
            x = module(x)
            layer = self._capture.get(index)
            if layer is not None:
                found[layer] = x  # the next module (conv or pool) never changes x in place
        return {layer: found[layer] for layer in self.layers}

    def extra_repr(self) -> str:
        return f"layers={self.layers}, pooling={self.pooling!r}, source={self.source!r}"
