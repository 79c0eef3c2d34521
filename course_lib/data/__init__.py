"""Every data set the course uses: MNIST (with offline fallbacks), 2-D toy mixtures, cartoon faces."""

from course_lib.data.faces import (
    ATTRIBUTES,
    FaceData,
    attribute_index,
    attribute_names,
    attribute_values,
    edge_map,
    load_faces,
    make_faces,
    render_faces,
    sample_attributes,
    sample_nuisance,
)
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
    "ATTRIBUTES",
    "CorruptDataError",
    "DataFallbackWarning",
    "FaceData",
    "MNISTData",
    "ToyData",
    "attribute_index",
    "attribute_names",
    "attribute_values",
    "binarized_mnist",
    "edge_map",
    "grid_of_gaussians",
    "load_faces",
    "load_mnist",
    "make_faces",
    "read_idx",
    "render_faces",
    "ring_of_gaussians",
    "sample_attributes",
    "sample_nuisance",
    "two_spirals",
]
