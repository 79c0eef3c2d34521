"""Bars and stripes: the classic tiny binary data set for Boltzmann machines (MacKay, 2003).

Each ``size`` x ``size`` image is made by switching on a random subset of its rows (stripes) or a
random subset of its columns (bars). All-off and all-on can be made both ways and count once, so
there are 2^(size + 1) - 2 distinct patterns. With 9 or 16 pixels, every visible state of an RBM
can be listed, so likelihoods and gradients can be computed exactly and compared with CD.
"""

from __future__ import annotations

import torch


def bars_and_stripes_patterns(size: int = 3) -> torch.Tensor:
    """Every distinct pattern, flattened row by row: (2^(size + 1) - 2, size * size) float32."""
    if not 2 <= size <= 6:
        raise ValueError(f"size must be between 2 and 6 (at most 36 pixels), got {size}.")
    subsets = (torch.arange(2**size).unsqueeze(1) >> torch.arange(size)) & 1  # (2^size, size)
    stripes = subsets.unsqueeze(2).expand(-1, size, size)  # row r on when bit r is set
    bars = subsets.unsqueeze(1).expand(-1, size, size)  # column c on when bit c is set
    patterns = torch.cat([stripes, bars]).flatten(1).float()  # (2 * 2^size, size * size)
    return torch.unique(patterns, dim=0)


def bars_and_stripes(n: int, size: int = 3, seed: int = 0) -> torch.Tensor:
    """``n`` patterns drawn uniformly (with replacement) from
    ``bars_and_stripes_patterns(size)``."""
    patterns = bars_and_stripes_patterns(size)
    index = torch.randint(len(patterns), (n,), generator=torch.Generator().manual_seed(seed))
    return patterns[index]
