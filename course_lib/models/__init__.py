"""Model families of the course, one file each."""

from course_lib.models.autoencoder import (
    ConvAutoencoder,
    ConvDecoder,
    ConvEncoder,
    LinearAutoencoder,
    check_image_batch,
)

__all__ = ["ConvAutoencoder", "ConvDecoder", "ConvEncoder", "LinearAutoencoder", "check_image_batch"]
