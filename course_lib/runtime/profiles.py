"""The sizes every notebook uses, per run profile. Notebooks read them with ``settings_for``.

smoke: CI only, tiny subsets so that every cell runs in seconds (numbers are meaningless).
cpu:   real results inside the syllabus budget (at most 5 minutes a notebook on 2 CPU cores).
gpu:   fuller training on one GPU (at most 10 minutes a notebook).

MNIST sizes are counts of the official training images (``*_train``: a seeded subset of 60,000)
and of the official test images (``*_test``: 10,000 is the whole test set, fewer a seeded subset).
The cpu profile trains on 12,000 distinct images (6,000 in notebook 09) for the same number of
optimiser steps as its earlier 8,000-image runs (4,000 in 09): more distinct images, same time.
"""

NOTEBOOK_SETTINGS = {
    "01_autoencoder": {
        "smoke": dict(
            train_images=512, test_images=256, batch_size=128, epochs=1,
            code_sizes=(2, 16), main_code_size=16, linear_epochs=2, scatter_points=256,
        ),
        "cpu": dict(
            train_images=12000, test_images=10000, batch_size=128, epochs=20,
            code_sizes=(2, 4, 8, 16, 32), main_code_size=16, linear_epochs=100, scatter_points=2000,
        ),
        "gpu": dict(
            train_images=60000, test_images=10000, batch_size=256, epochs=40,
            code_sizes=(2, 4, 8, 16, 32), main_code_size=16, linear_epochs=150, scatter_points=5000,
        ),
    },
    "02_denoising_autoencoder": {
        "smoke": dict(
            train_images=512, test_images=256, batch_size=128, epochs=1, code_size=32, train_noise=0.3,
            tune_images=32, score_images=64, noise_levels=(0.1, 0.3, 0.5),
            blur_widths=(0.8,), tv_weights=(0.1,), nlm_strengths=(0.6,), median_sizes=(3,),
            salt_pepper_amount=0.1,
        ),
        "cpu": dict(
            train_images=12000, test_images=10000, batch_size=128, epochs=20, code_size=32, train_noise=0.3,
            tune_images=200, score_images=1000, noise_levels=(0.1, 0.2, 0.3, 0.4, 0.5),
            blur_widths=(0.5, 0.7, 0.9, 1.2), tv_weights=(0.05, 0.1, 0.15, 0.25), nlm_strengths=(0.4, 0.6, 0.8, 1.0),
            median_sizes=(2, 3), salt_pepper_amount=0.1,
        ),
        "gpu": dict(
            train_images=60000, test_images=10000, batch_size=256, epochs=40, code_size=32, train_noise=0.3,
            tune_images=500, score_images=2000, noise_levels=(0.1, 0.2, 0.3, 0.4, 0.5),
            blur_widths=(0.5, 0.7, 0.9, 1.2), tv_weights=(0.05, 0.1, 0.15, 0.25), nlm_strengths=(0.4, 0.6, 0.8, 1.0),
            median_sizes=(2, 3), salt_pepper_amount=0.1,
        ),
    },
    "03_variational_autoencoder": {
        "smoke": dict(
            mnist_train=512, mnist_test=256, batch_size=128, mnist_epochs=1, latent_mnist=16, probe_images=128,
            iwae_images=32, iwae_k=16, face_train=256, face_test=128, face_size=32, latent_faces=16,
            face_epochs=1, judge_recipe="quick", samples=64, edit_images=32,
        ),
        "cpu": dict(
            mnist_train=12000, mnist_test=10000, batch_size=128, mnist_epochs=20, latent_mnist=16, probe_images=1000,
            iwae_images=1000, iwae_k=1000, face_train=8000, face_test=1000, face_size=32, latent_faces=32,
            face_epochs=15, judge_recipe="default", samples=500, edit_images=200,
        ),
        "gpu": dict(
            mnist_train=60000, mnist_test=10000, batch_size=128, mnist_epochs=100, latent_mnist=16, probe_images=2000,
            iwae_images=10000, iwae_k=5000, face_train=20000, face_test=2000, face_size=64, latent_faces=64,
            face_epochs=40, judge_recipe="default", samples=1000, edit_images=500,
        ),
    },
    "04_rbm_and_dbn": {
        "smoke": dict(
            mnist_train=512, mnist_test=256, bars_rows=1400, bars_epochs=5,
            rbm_hidden=64, batch_size=64, learning_rate=0.05, rbm_epochs=1, cd_k=5, sample_steps=100,
            exact_hidden=10, ais_temperatures=300, ais_chains=20, ais_check_rbms=2,
            sklearn_hidden=64, sklearn_epochs=1, sklearn_batch=64,
            dbn_hidden=(64, 64), dbn_top=128, dbn_epochs=1, dbn_gibbs=50, generated_per_label=4,
            wake_sleep_epochs=1, wake_sleep_rate=0.01, label_counts=(100,), mlp_seeds=2, mlp_steps=20,
            judge_recipe="quick",
        ),
        "cpu": dict(
            mnist_train=12000, mnist_test=2000, bars_rows=2800, bars_epochs=40,
            rbm_hidden=500, batch_size=100, learning_rate=0.05, rbm_epochs=13, cd_k=25, sample_steps=1000,
            exact_hidden=20, ais_temperatures=5000, ais_chains=100, ais_check_rbms=5,
            sklearn_hidden=500, sklearn_epochs=7, sklearn_batch=100,
            dbn_hidden=(500, 500), dbn_top=2000, dbn_epochs=10, dbn_gibbs=1000, generated_per_label=30,
            wake_sleep_epochs=7, wake_sleep_rate=0.01, label_counts=(100, 1000), mlp_seeds=5, mlp_steps=600,
            judge_recipe="default",
        ),
        "gpu": dict(
            mnist_train=60000, mnist_test=10000, bars_rows=2800, bars_epochs=40,
            rbm_hidden=500, batch_size=100, learning_rate=0.05, rbm_epochs=50, cd_k=25, sample_steps=1000,
            exact_hidden=20, ais_temperatures=14500, ais_chains=100, ais_check_rbms=5,
            sklearn_hidden=500, sklearn_epochs=10, sklearn_batch=100,
            dbn_hidden=(500, 500), dbn_top=2000, dbn_epochs=30, dbn_gibbs=1000, generated_per_label=30,
            wake_sleep_epochs=20, wake_sleep_rate=0.01, label_counts=(100, 1000), mlp_seeds=5, mlp_steps=1000,
            judge_recipe="default",
        ),
    },
    "05_gan": {
        "smoke": dict(
            d_star_steps=200, ring_points=2560, ring_epochs=2, ring_d_steps=(1,), ring_samples=500,
            ring_snapshot_every=10, mnist_train=512, mnist_test=256, latent_dim=100, mnist_epochs=1,
            mnist_snapshot_every=2, fd_samples=200, judge_recipe="quick",
        ),
        "cpu": dict(
            d_star_steps=2000, ring_points=12800, ring_epochs=100, ring_d_steps=(1, 5), ring_samples=2000,
            ring_snapshot_every=500, mnist_train=12000, mnist_test=2000, latent_dim=100, mnist_epochs=67,
            mnist_snapshot_every=2500, fd_samples=1000, judge_recipe="default",
        ),
        "gpu": dict(
            d_star_steps=2000, ring_points=12800, ring_epochs=100, ring_d_steps=(1, 5), ring_samples=5000,
            ring_snapshot_every=1000, mnist_train=60000, mnist_test=10000, latent_dim=100, mnist_epochs=50,
            mnist_snapshot_every=5000, fd_samples=5000, judge_recipe="default",
        ),
    },
    "06_dcgan_bigan": {
        "smoke": dict(
            mnist_train=512, mnist_test=256, latent_dim=64, dcgan_width=16, equal_seconds=2, fd_samples=200,
            face_train=256, face_epochs=1, face_samples=200, group_pool=10, group_size=3, arithmetic_trials=10, bigan_epochs=1,
            probe_train=200, judge_recipe="quick", attribute_recipe="quick",
        ),
        "cpu": dict(
            mnist_train=12000, mnist_test=2000, latent_dim=64, dcgan_width=32, equal_seconds=30, fd_samples=1000,
            face_train=8000, face_epochs=20, face_samples=5000, group_pool=20, group_size=3, arithmetic_trials=100, bigan_epochs=17,
            probe_train=1000, judge_recipe="default", attribute_recipe="default",
        ),
        "gpu": dict(
            mnist_train=60000, mnist_test=10000, latent_dim=64, dcgan_width=64, equal_seconds=120, fd_samples=5000,
            face_train=20000, face_epochs=30, face_samples=10000, group_pool=30, group_size=3, arithmetic_trials=200, bigan_epochs=50,
            probe_train=1000, judge_recipe="default", attribute_recipe="default",
        ),
    },
    "07_wgan": {
        "smoke": dict(
            critic_shifts=(1.0,), critic_steps=50, ring_points=2560, ring_g_steps=(10, 10), ring_samples=500,
            mnist_train=512, mnist_test=256, latent_dim=64, width=16, mnist_epochs=1, fd_samples=200,
            judge_recipe="quick",
        ),
        "cpu": dict(
            critic_shifts=(0.5, 1.0, 2.0), critic_steps=1000, ring_points=12800, ring_g_steps=(2000, 1000), ring_samples=2000,
            mnist_train=12000, mnist_test=2000, latent_dim=64, width=32, mnist_epochs=20, fd_samples=1000,
            judge_recipe="default",
        ),
        "gpu": dict(
            critic_shifts=(0.5, 1.0, 2.0), critic_steps=2000, ring_points=12800, ring_g_steps=(4000, 2000), ring_samples=5000,
            mnist_train=60000, mnist_test=10000, latent_dim=64, width=64, mnist_epochs=30, fd_samples=5000,
            judge_recipe="default",
        ),
    },
    "08_conditional_gan": {
        "smoke": dict(
            mnist_train=512, mnist_test=256, latent_dim=64, width=8, cgan_epochs=1, n_per_class=10, fd_samples=128,
            judge_recipe="quick", pairs_train=128, pairs_test=64, p2p_width=8, patch_layers=1, p2p_epochs=1,
            l1_weights=(100,),
        ),
        "cpu": dict(
            mnist_train=12000, mnist_test=2000, latent_dim=64, width=32, cgan_epochs=20, n_per_class=100, fd_samples=1000,
            judge_recipe="default", pairs_train=2000, pairs_test=500, p2p_width=16, patch_layers=1, p2p_epochs=15,
            l1_weights=(10, 100),
        ),
        "gpu": dict(
            mnist_train=60000, mnist_test=10000, latent_dim=64, width=64, cgan_epochs=20, n_per_class=500,
            fd_samples=5000, judge_recipe="default", pairs_train=10000, pairs_test=1000, p2p_width=32, patch_layers=1,
            p2p_epochs=30, l1_weights=(1, 10, 100),
        ),
    },
    "09_cyclegan_stargan": {
        "smoke": dict(
            mnist_train=256, mnist_test=128, judge_recipe="quick", cycle_width=4, cycle_blocks=1, cycle_epochs=1,
            faces_train=128, faces_test=64, attribute_recipe="quick", star_width=4, star_blocks=1, star_epochs=1,
            star_d_steps=1,
        ),
        "cpu": dict(
            mnist_train=6000, mnist_test=1000, judge_recipe="default", cycle_width=16, cycle_blocks=3, cycle_epochs=4,
            faces_train=2000, faces_test=400, attribute_recipe="default", star_width=32, star_blocks=3, star_epochs=20,
            star_d_steps=5,
        ),
        "gpu": dict(
            mnist_train=20000, mnist_test=2000, judge_recipe="default", cycle_width=32, cycle_blocks=6, cycle_epochs=20,
            faces_train=10000, faces_test=1000, attribute_recipe="default", star_width=32, star_blocks=6, star_epochs=30,
            star_d_steps=5,
        ),
    },
    "10_neural_style_transfer": {
        "smoke": dict(size=48, recon_size=32, recon_steps=5, transfer_steps=5, race_seconds=1, timing_sizes=(32,), beta=1e6),
        "cpu": dict(
            size=192, recon_size=96, recon_steps=100, transfer_steps=200, race_seconds=15, timing_sizes=(128, 256, 512),
            beta=1e6,
        ),
        "gpu": dict(
            size=512, recon_size=256, recon_steps=300, transfer_steps=500, race_seconds=30, timing_sizes=(256, 512, 1024),
            beta=1e6,
        ),
    },
}

# Speed switches per profile (``course_lib.runtime.speed``). They act only on CUDA: the CPU path of every
# profile is plain float32. torch.compile stays off: compiling costs time up front and a notebook's
# training runs are short (not yet measured on a GPU).
SPEED_SETTINGS = {
    "smoke": dict(bf16_autocast=False, channels_last=False, cudnn_benchmark=False, compile=False),
    "cpu": dict(bf16_autocast=False, channels_last=False, cudnn_benchmark=False, compile=False),
    "gpu": dict(bf16_autocast=True, channels_last=True, cudnn_benchmark=True, compile=False),
}
