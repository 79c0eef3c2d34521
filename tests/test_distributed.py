"""Data parallelism: N gloo processes with a global batch of B take the steps of one process with B.

The multi-process runs go through torchrun itself (``python -m torch.distributed.run``), as a
user would start them, on this machine's CPU with the gloo backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from course_lib.runtime.checkpoints import read_checkpoint
from course_lib.runtime.config import DATA_DIR_ENV
from course_lib.runtime.distributed import Shard

REPO = Path(__file__).resolve().parent.parent

# Trains a small regressor with fit (batches of 7 split 4 + 3, so the part weighting matters),
# a small GAN with train_gan (k = 2), an RBM with CD-2 (batches of 9 split 5 + 4), and tiny
# CycleGAN, StarGAN and pix2pix models with their own loops; every process saves its parameters.
WORKER = textwrap.dedent(
    """
    import sys
    import torch
    from torch import nn
    from course_lib.runtime.distributed import average_across, shard_from_environment
    from course_lib.objectives.cyclegan import CycleGAN
    from course_lib.training.translation import train_cyclegan
    from course_lib.data.face_domains import two_label_sets
    from course_lib.objectives.gan import StandardGAN
    from course_lib.training.adversarial import train_gan
    from course_lib.models.blocks import resnet_translator
    from course_lib.models.pix2pix import PatchDiscriminator, UNetGenerator
    from course_lib.models.rbm import BernoulliRBM
    from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
    from course_lib.objectives.pix2pix import Pix2Pix
    from course_lib.training.translation import train_pix2pix
    from course_lib.training.rbm import train_rbm
    from course_lib.objectives.stargan import StarGAN
    from course_lib.training.translation import train_stargan
    from course_lib.training.fit import fit

    shard = shard_from_environment()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 3, generator=g)
    y = torch.sin(x @ torch.tensor([[2.0], [-3.0], [0.5]]))
    torch.manual_seed(0)
    regressor = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    fit_history = fit(regressor, lambda m, a, b: nn.functional.mse_loss(m(a), b), (x, y),
                      optimizer=torch.optim.SGD(regressor.parameters(), lr=0.1), epochs=3,
                      batch_size=7, seed=1, shard=shard)

    points = torch.randn(256, 2, generator=g) * 0.1 + 1.0
    torch.manual_seed(0)
    gan = StandardGAN(nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2)),
                      nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1)))
    gan_history = train_gan(gan, points, epochs=2, batch_size=32, latent_dim=2, d_steps=2, seed=3,
                            shard=shard,
                            d_optimizer=torch.optim.SGD(gan.discriminator_parameters(), lr=0.05),
                            g_optimizer=torch.optim.SGD(gan.generator_parameters(), lr=0.05))
    binary = (torch.rand(90, 12, generator=g) < 0.3).float()
    torch.manual_seed(0)
    rbm = BernoulliRBM(12, 6)
    train_rbm(rbm, binary, epochs=2, batch_size=9, learning_rate=0.1, k=2, seed=4, shard=shard)
    # A small rate: the cycle term (about 10) would make large steps that magnify rounding.
    torch.manual_seed(0)
    cycle = CycleGAN(resnet_translator(1, 2, 4, 1, 1), resnet_translator(2, 1, 4, 1, 1),
                     PatchDiscriminator(1, 4, 1, norm="instance"),
                     PatchDiscriminator(2, 4, 1, norm="instance"), identity_weight=0.0)
    domain_a = torch.rand(24, 1, 16, 16, generator=g)
    domain_b = torch.rand(20, 2, 16, 16, generator=g)
    train_cyclegan(cycle, domain_a, domain_b, epochs=1, batch_size=4, pool_size=0, shard=shard,
                   g_optimizer=torch.optim.SGD(cycle.generator_parameters(), lr=0.005),
                   d_optimizer=torch.optim.SGD(cycle.discriminator_parameters(), lr=0.005))
    faces = two_label_sets(16, size=32, seed=0)
    torch.manual_seed(0)
    star = StarGAN(StarGANGenerator(3, 13, 4, 1, 1), StarGANDiscriminator(32, 3, 11, 4))
    train_stargan(star, faces.images * 2 - 1, faces.condition, epochs=1, batch_size=4, d_steps=2,
                  shard=shard, g_optimizer=torch.optim.Adam(star.generator.parameters()),
                  d_optimizer=torch.optim.Adam(star.discriminator.parameters()))
    torch.manual_seed(0)
    p2p = Pix2Pix(UNetGenerator(1, 3, 32, 4), PatchDiscriminator(4, 4, 1))
    edges = torch.rand(16, 1, 32, 32, generator=g)
    photos = torch.rand(16, 3, 32, 32, generator=g)
    train_pix2pix(p2p, edges, photos, epochs=1, batch_size=4, shard=shard,
                  g_optimizer=torch.optim.Adam(p2p.generator.parameters()),
                  d_optimizer=torch.optim.Adam(p2p.discriminator.parameters()))

    values = torch.arange(9.0)
    part = shard.part(values)  # 5 + 4 values with two processes
    (mean,) = average_across((part.mean(),), len(part) / len(values), shard)
    torch.save({"mean_of_parts": mean.item(), "regressor": regressor.state_dict(),
                "fit_loss": fit_history["train_loss"], "gan": gan.state_dict(),
                "d_loss": gan_history.d_loss, "g_loss": gan_history.g_loss,
                "rbm": rbm.state_dict(), "cyclegan": cycle.state_dict(),
                "stargan": star.state_dict(), "pix2pix": p2p.state_dict()},
               f"{sys.argv[1]}.rank{shard.rank}")
    """
)


def _environment(data_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", COURSE_PROGRESS="off", PYTHONPATH=str(REPO))
    if data_dir is not None:
        env[DATA_DIR_ENV] = str(data_dir)
    return env


def _torchrun(processes: int, *arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        *arguments,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_shard_parts_partition_a_batch_and_differ_by_at_most_one():
    batch = torch.arange(11)
    parts = [Shard(rank, 3).part(batch) for rank in range(3)]
    assert torch.equal(torch.cat(parts), batch)
    assert [len(p) for p in parts] == [4, 4, 3]
    assert Shard().part(batch) is batch


def test_bad_shards_and_batches_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="rank 2 of world size 2"):
        Shard(2, 2)
    with pytest.raises(ValueError, match="cannot be split over 4 processes"):
        Shard(0, 4).part(torch.arange(3))
    with pytest.raises(ValueError, match="multiple of 4"):
        Shard(0, 4).check_divides(30)


def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one.pt")],
        env=_environment(),
        check=True,
        timeout=300,
        cwd=REPO,
    )
    _torchrun(2, str(script), str(tmp_path / "two.pt"), env=_environment())
    one, two = torch.load(tmp_path / "one.pt.rank0"), torch.load(tmp_path / "two.pt.rank0")
    other = torch.load(tmp_path / "two.pt.rank1")
    # every process ends with the same parameters, the RBM's (averaged CD estimates) included
    # (BatchNorm's running statistics are the exception: each process tracks its own parts)
    for name in ("regressor", "gan", "rbm", "cyclegan", "stargan", "pix2pix"):
        parameters = [
            key for key in two[name] if "running_" not in key and "num_batches" not in key
        ]
        assert (
            _max_difference(
                {k: two[name][k] for k in parameters}, {k: other[name][k] for k in parameters}
            )
            == 0
        ), name
    # fit: 3 epochs of 9 steps; train_gan: 2 epochs of 4 generator steps (8 critic steps)
    assert _max_difference(one["regressor"], two["regressor"]) < 1e-6
    assert two["fit_loss"] == pytest.approx(one["fit_loss"], rel=1e-6)
    assert _max_difference(one["gan"], two["gan"]) < 1e-6
    assert two["d_loss"] == pytest.approx(one["d_loss"], rel=1e-5)
    assert two["g_loss"] == pytest.approx(one["g_loss"], rel=1e-5)
    # CycleGAN with instance norm and no image pool has no per-process noise: the same steps too.
    # (StarGAN draws target labels and pix2pix dropout masks per process; pix2pix also has
    # BatchNorm.)
    assert _max_difference(one["cyclegan"], two["cyclegan"]) < 1e-6
    # and the runs did move the weights: equality is not the trivial kind
    torch.manual_seed(0)
    untrained = torch.nn.Linear(3, 16).state_dict()
    assert (one["regressor"]["0.weight"] - untrained["weight"]).abs().max() > 1e-2
    # CD-k samples its own noise per process, so its RBM matches one process only in distribution;
    # what makes it right is the part-weighted average of the estimates, checked exactly here.
    assert one["mean_of_parts"] == two["mean_of_parts"] == other["mean_of_parts"] == 4.0


def test_the_entry_point_runs_unchanged_under_torchrun(tmp_path, offline_data_dir):
    data_dir = Path(offline_data_dir)
    arguments = [
        "-m",
        "course_lib.recipes",
        "gan",
        "--profile",
        "smoke",
        "--train-images",
        "256",
        "--epochs",
        "1",
    ]
    subprocess.run(
        [sys.executable, *arguments, "--out", str(tmp_path / "one.pt")],
        env=_environment(data_dir),
        check=True,
        timeout=300,
        cwd=REPO,
        capture_output=True,
    )
    result = _torchrun(2, *arguments, "--out", str(tmp_path / "two.pt"), env=_environment(data_dir))
    assert "Trained by 2 process(es)" in result.stdout
    assert result.stdout.count("holds the finished run") == 1  # rank 0 alone writes and reports
    assert result.stdout.count("data: ") == 1
    # read_checkpoint verifies the content digest recorded in the file
    one, two = read_checkpoint(tmp_path / "one.pt"), read_checkpoint(tmp_path / "two.pt")
    assert (one["run"]["processes"], two["run"]["processes"]) == (1, 2)
    # Adam divides by the running gradient size, which magnifies float rounding in the summed
    # gradients a little; 4 steps of a rate of 2e-4 stay far below a tenth of a step apart.
    assert _max_difference(one["model"], two["model"]) < 2e-5
    assert two["history"]["g_loss"] == pytest.approx(one["history"]["g_loss"], rel=1e-4)
