"""A small CNN that predicts every categorical attribute of an image at once.

One shared trunk (Conv-BN-ReLU blocks, each halving the resolution, then global average pooling)
feeds one linear head per attribute. Trained on the procedural faces it becomes the course's
frozen judge (``course_lib.evaluation.attribute_judge``), which scores attribute edits and
translations.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from course_lib.data.faces import ATTRIBUTES

SMALLEST_MAP = 4  # the trunk halves the image until the feature map is 4 x 4


def _conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class AttributeClassifier(nn.Module):
    """Logits for each attribute of (B, 3, size, size) images; ``size`` a power of two >= 8.

    ``widths`` are the channels of the stem and of each stride-2 block; a small ``size`` needs
    fewer blocks and uses only the first entries.
    """

    def __init__(
        self,
        size: int = 64,
        attributes: Mapping[str, Sequence[str]] = ATTRIBUTES,
        widths: Sequence[int] = (32, 32, 64, 128, 128, 128),
    ) -> None:
        super().__init__()
        if size < 2 * SMALLEST_MAP or size & (size - 1):
            raise ValueError(f"size must be a power of two >= {2 * SMALLEST_MAP}, got {size}.")
        n_down = (size // SMALLEST_MAP).bit_length() - 1  # stride-2 blocks from size down to 4
        if len(widths) < n_down + 1:
            raise ValueError(
                f"size {size} needs {n_down + 1} widths (one stem + {n_down} blocks), "
                f"got {len(widths)}."
            )
        self.size = size
        self.attributes = {name: tuple(values) for name, values in attributes.items()}
        # A stride-1 stem keeps one-pixel details (glasses rims, eyebrows) before downsampling.
        blocks = [_conv_block(3, widths[0], stride=1)]
        blocks += [_conv_block(widths[i], widths[i + 1], stride=2) for i in range(n_down)]
        self.trunk = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_size = widths[n_down]
        self.heads = nn.ModuleDict(
            {
                name: nn.Linear(self.feature_size, len(values))
                for name, values in self.attributes.items()
            }
        )

    def check_input(self, images: torch.Tensor) -> None:
        expected = (3, self.size, self.size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                "AttributeClassifier expects images of shape "
                f"(B, {', '.join(map(str, expected))}), got {tuple(images.shape)}."
            )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features (B, feature_size), e.g. for a classifier Frechet distance."""
        self.check_input(images)
        return self.trunk(images)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(images)  # (B, F)
        return {name: head(features) for name, head in self.heads.items()}  # name -> (B, n_values)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The most likely value of each attribute, as int64 labels (B,)."""
        return {name: logits.argmax(dim=1) for name, logits in self(images).items()}


def attribute_loss(
    model: AttributeClassifier, images: torch.Tensor, *labels: torch.Tensor
) -> torch.Tensor:
    """Sum over attributes of the cross-entropy; ``labels`` follow ``model.attributes`` order."""
    logits = model(images)
    return sum(
        nn.functional.cross_entropy(logits[name], target) for name, target in zip(logits, labels)
    )


@torch.no_grad()
def attribute_accuracy(
    model: AttributeClassifier,
    images: torch.Tensor,
    labels: Mapping[str, torch.Tensor],
    batch_size: int = 500,
) -> dict[str, float]:
    """Share of correct predictions per attribute, with the model in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = {name: 0 for name in model.attributes}
    for start in range(0, len(images), batch_size):
        predicted = model.predict(images[start : start + batch_size].to(device))
        for name in correct:
            correct[name] += (
                (predicted[name].cpu() == labels[name][start : start + batch_size]).sum().item()
            )
    model.train(was_training)
    return {name: count / len(images) for name, count in correct.items()}
