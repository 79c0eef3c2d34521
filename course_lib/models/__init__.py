"""Model families of the course, one file each."""

from course_lib.models.autoencoder import (
    ConvAutoencoder,
    ConvDecoder,
    ConvEncoder,
    LinearAutoencoder,
    check_image_batch,
)
from course_lib.models.classifier import AttributeClassifier, attribute_accuracy, attribute_loss
from course_lib.models.digit_classifier import DigitClassifier, digit_loss
from course_lib.models.vae import ConvVAE, FaceVAE, GaussianVAE, MLPVAE, reparameterize

__all__ = [
    "AttributeClassifier",
    "ConvAutoencoder",
    "ConvDecoder",
    "ConvEncoder",
    "DigitClassifier",
    "LinearAutoencoder",
    "attribute_accuracy",
    "attribute_loss",
    "digit_loss",
    "check_image_batch",
    "ConvVAE",
    "FaceVAE",
    "GaussianVAE",
    "MLPVAE",
    "reparameterize",
]

from course_lib.models.gan import (  # noqa: E402
    BiGANEncoder,
    DCGANDiscriminator,
    DCGANGenerator,
    JointDiscriminator,
    MLPDiscriminator,
    MLPGenerator,
    dcgan_init_,
)

__all__ += [
    "BiGANEncoder",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "JointDiscriminator",
    "MLPDiscriminator",
    "MLPGenerator",
    "dcgan_init_",
]
