"""DCGAN training throughput (images per second), written to bench/RESULTS_GAN.md.

One training step is one discriminator step and one generator step of
``course_lib.training.adversarial`` (Algorithm 5.2 with k = 1), on data held in memory on the
device. Throughput counts the real images the discriminator sees per second of training, after one
warm-up epoch. Runs on the CPU, and on CUDA too whenever it is available.

    make bench-gan
    .venv/bin/python bench/gan_throughput.py --images 2000
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import torch

from course_lib.authoring.execution import machine_description
from course_lib.data.faces import load_faces
from course_lib.data.mnist import load_mnist
from course_lib.models.gan import DCGANDiscriminator, DCGANGenerator
from course_lib.objectives.gan import StandardGAN
from course_lib.training.adversarial import train_gan

ROOT = Path(__file__).resolve().parent.parent
LATENT = 64
# (data set, image size, channels, width, batch size)
SETTINGS = [
    ("MNIST", 28, 1, 32, 64),
    ("MNIST", 28, 1, 32, 128),
    ("cartoon faces", 32, 3, 32, 64),
    ("cartoon faces", 64, 3, 32, 64),
]


def images_for(name: str, size: int, count: int) -> torch.Tensor:
    if name == "MNIST":
        return load_mnist(count, 10, seed=0).train_images * 2 - 1
    return load_faces(count, 1, size=size, seed=0)[0].images * 2 - 1


def images_per_second(
    data: torch.Tensor, size: int, channels: int, width: int, batch: int, device: str
) -> float:
    torch.manual_seed(0)
    gan = StandardGAN(
        DCGANGenerator(LATENT, size, channels, width), DCGANDiscriminator(size, channels, width)
    )
    data = data.to(device)
    options = dict(
        batch_size=batch,
        latent_dim=LATENT,
        device=device,
        desc=f"DCGAN {size}px on {device}",
        d_optimizer=torch.optim.Adam(gan.discriminator_parameters(), lr=2e-4, betas=(0.5, 0.999)),
        g_optimizer=torch.optim.Adam(gan.generator_parameters(), lr=2e-4, betas=(0.5, 0.999)),
    )
    train_gan(gan, data, epochs=1, **options)  # warm-up: allocations, kernel selection
    if device == "cuda":
        torch.cuda.synchronize()
    history = train_gan(gan, data, epochs=1, seed=1, **options)
    return len(history.g_loss) * batch / history.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=int, default=4000, help="training images per epoch (default 4,000)"
    )
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = [
        "# DCGAN training throughput",
        "",
        f"Written by `make bench-gan` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}.",
        f"Machine: {machine_description()}; torch threads {torch.get_num_threads()}.",
        f"One epoch of {args.images:,} images after a warm-up epoch; latent size {LATENT}; Adam; "
        "data in device memory.",
        "Images per second = real images seen by the discriminator per second of training (k = 1).",
        "",
        "| data | image size | channels | width | batch | device | images/s | seconds per "
        "8,000-image epoch |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, size, channels, width, batch in SETTINGS:
        data = images_for(name, size, args.images)
        for device in devices:
            print(f"bench-gan: {name} {size}px, batch {batch} on {device} ...", flush=True)
            rate = images_per_second(data, size, channels, width, batch, device)
            lines.append(
                f"| {name} | {size} | {channels} | {width} | {batch} | {device} | {rate:,.0f} | "
                f"{8000 / rate:.1f} |"
            )
    path = ROOT / "bench" / "RESULTS_GAN.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"bench-gan: results written to {path}")


if __name__ == "__main__":
    main()
