"""Every data set the course uses: MNIST (with offline fallbacks) and 2-D toy mixtures."""

from course_lib.data.mnist import (
    CorruptDataError,
    DataFallbackWarning,
    MNISTData,
    binarized_mnist,
    load_mnist,
    read_idx,
)
from course_lib.data.toy import ToyData, grid_of_gaussians, ring_of_gaussians, two_spirals

__all__ = [
    "CorruptDataError",
    "DataFallbackWarning",
    "MNISTData",
    "ToyData",
    "binarized_mnist",
    "grid_of_gaussians",
    "load_mnist",
    "read_idx",
    "ring_of_gaussians",
    "two_spirals",
]
