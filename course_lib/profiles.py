"""The sizes every notebook uses, per run profile. Notebooks read them with ``settings_for``.

smoke: CI only, tiny subsets so that every cell runs in seconds (numbers are meaningless).
cpu:   real results inside the syllabus budget (at most 5 minutes a notebook on 2 CPU cores).
gpu:   fuller training on one GPU (at most 10 minutes a notebook).
"""

NOTEBOOK_SETTINGS = {
    "01_autoencoder": {
        "smoke": dict(
            train_images=512, test_images=256, batch_size=128, epochs=1,
            code_sizes=(2, 16), main_code_size=16, linear_epochs=2, scatter_points=256,
        ),
        "cpu": dict(
            train_images=8000, test_images=2000, batch_size=128, epochs=30,
            code_sizes=(2, 4, 8, 16, 32), main_code_size=16, linear_epochs=150, scatter_points=2000,
        ),
        "gpu": dict(
            train_images=60000, test_images=10000, batch_size=256, epochs=40,
            code_sizes=(2, 4, 8, 16, 32), main_code_size=16, linear_epochs=150, scatter_points=5000,
        ),
    },
}
