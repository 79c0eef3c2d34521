"""The shared image-to-image blocks: residual block, ResNet translator and its stem padding."""

import pytest
import torch
from torch import nn

from course_lib.models.blocks import ResidualBlock, resnet_translator


def test_residual_block_adds_its_body_to_the_input():
    torch.manual_seed(0)
    block = ResidualBlock(4)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(block(x), x + block.body(x))
    with torch.no_grad():
        block.body[
            -1
        ].weight.zero_()  # the last instance norm's scale: the body then returns its shift, 0
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize("n_down", [0, 1, 2])
def test_translator_keeps_the_size_and_maps_channels(n_down):
    net = resnet_translator(1, 3, width=4, n_down=n_down, n_blocks=1)
    out = net(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 3, 28, 28)
    assert out.abs().max() < 1  # tanh


def test_reflect_stem_erases_a_constant_plane_and_zero_padding_keeps_it():
    image = torch.randn(1, 3, 16, 16)
    plane_a, plane_b = torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16)  # two conditions
    for padding, differs in (("reflect", False), ("zeros", True)):
        torch.manual_seed(0)
        net = resnet_translator(4, 3, width=4, n_down=1, n_blocks=1, stem_padding=padding).eval()
        with torch.no_grad():
            gap = (
                (net(torch.cat([image, plane_a], 1)) - net(torch.cat([image, plane_b], 1)))
                .abs()
                .max()
                .item()
            )
        assert (gap > 1e-3) == differs, (padding, gap)


def test_translator_rejects_bad_settings():
    with pytest.raises(ValueError, match="stem_padding"):
        resnet_translator(1, 1, stem_padding="circular")
    with pytest.raises(ValueError, match="positive channel counts"):
        resnet_translator(0, 3)
    assert isinstance(resnet_translator(1, 1, n_blocks=0)[0], nn.ReflectionPad2d)
