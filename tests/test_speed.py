"""Speed switches: off on the CPU by default, and doing what they say when switched on."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.losses.adversarial import gradient_penalty
from course_lib.models.autoencoder import ConvAutoencoder
from course_lib.models.critic import DCGANCritic
from course_lib.runtime.speed import Speed, speed_for
from course_lib.training.fit import fit

pytestmark = pytest.mark.usefixtures("quiet_progress")


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_every_profile_leaves_the_cpu_path_plain(profile):
    assert speed_for(profile, "cpu") == Speed()


def test_the_gpu_profile_switches_on_bf16_channels_last_and_cudnn_benchmark_on_cuda():
    # speed_for only reads the settings: no GPU is needed to check what it would turn on.
    assert speed_for("gpu", "cuda") == Speed(
        bf16_autocast=True, channels_last=True, cudnn_benchmark=True
    )
    assert speed_for("cpu", "cuda") == Speed()


def test_autocast_runs_the_matmuls_in_bfloat16_only_when_switched_on():
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with Speed(bf16_autocast=True).autocast("cpu"):
        assert layer(x).dtype == torch.bfloat16
    with Speed().autocast("cpu"):
        assert layer(x).dtype == torch.float32


def test_prepare_puts_conv_weights_in_channels_last_and_keeps_state_dict_keys():
    model = ConvAutoencoder(8)
    keys = list(model.state_dict())
    Speed(channels_last=True).prepare(model)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert list(model.state_dict()) == keys
    image = torch.rand(2, 1, 28, 28)
    assert Speed(channels_last=True).layout(image).is_contiguous(memory_format=torch.channels_last)
    assert Speed().layout(image) is image


def test_fit_with_bf16_and_channels_last_learns_like_float32():
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    def train(speed):
        torch.manual_seed(0)
        model = ConvAutoencoder(8)
        history = fit(
            model,
            lambda m, x: nn.functional.mse_loss(m(x).float(), x),
            images,
            optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
            epochs=3,
            batch_size=16,
            speed=speed,
        )
        return history["train_loss"]

    plain, fast = train(Speed()), train(Speed(bf16_autocast=True, channels_last=True))
    assert fast != plain  # bfloat16 really was used
    assert fast[-1] < fast[0] and fast[-1] == pytest.approx(plain[-1], rel=0.05)


def test_the_gradient_penalty_stays_float32_inside_a_bfloat16_run():
    torch.manual_seed(0)
    critic = DCGANCritic(28, 1, 8)
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    fake = (torch.rand(4, 1, 28, 28) * 2 - 1).bfloat16()  # as a generator under autocast returns it
    expected = gradient_penalty(critic, real, fake.float(), torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(1))
    assert inside.dtype == torch.float32
    torch.testing.assert_close(
        inside, expected
    )  # a bfloat16 critic pass differs by about 7e-4 (relative)
