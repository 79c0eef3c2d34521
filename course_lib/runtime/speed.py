"""The GPU speed switches: bfloat16 autocast, channels_last, cuDNN benchmark mode, torch.compile.

Each is a setting of the run profile (``profiles.SPEED_SETTINGS``) and acts only on CUDA, so the
CPU path is always plain float32 and unchanged. ``fit`` and ``train_gan`` apply them.

Where bfloat16 is not safe the course keeps float32 explicitly: the RBM's Gibbs sampling and
likelihood code never autocasts (probabilities and log partition functions need float32's
precision), and WGAN-GP's gradient penalty runs its critic pass in float32 as a precaution
(``wgan.gradient_penalty``): it squares the gap between a gradient norm and 1, and bfloat16
carries only about three significant decimal digits. None of this is measured on a GPU yet.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

import torch
from torch import nn

from course_lib.runtime.profiles import SPEED_SETTINGS


@dataclass(frozen=True)
class Speed:
    """Which speed switches are on (all off by default)."""

    bf16_autocast: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """bfloat16 autocast on ``device`` when switched on, else a context that does nothing."""
        if not self.bf16_autocast:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Apply the model-level switches in place and return ``model``
        (state_dict keys unchanged)."""
        if self.cudnn_benchmark:
            torch.backends.cudnn.benchmark = (
                True  # picks the fastest kernels for the fixed batch shapes
            )
        if self.channels_last:
            model.to(memory_format=torch.channels_last)  # only 4-D weights change layout
        if self.compile:
            model.compile()  # compiles forward in place, unlike torch.compile(model) which wraps it
        return model

    def layout(self, tensor: torch.Tensor) -> torch.Tensor:
        """Image batches in channels_last when that switch is on (other tensors unchanged)."""
        if self.channels_last and tensor.dim() == 4:
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor


def speed_for(profile: str, device: torch.device | str) -> Speed:
    """The profile's switches on CUDA; all off on any other device."""
    if torch.device(device).type != "cuda":
        return Speed()
    settings = SPEED_SETTINGS[profile]
    unknown = set(settings) - {f.name for f in fields(Speed)}
    if unknown:
        raise KeyError(f"Unknown speed settings {sorted(unknown)} in profile {profile!r}.")
    return Speed(**settings)
