"""Figures (course_lib.viz.figures) and source display (course_lib.viz.source)."""

from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from IPython.display import Code  # noqa: E402

from course_lib.models.autoencoder import ConvAutoencoder  # noqa: E402
from course_lib.training.fit import fit  # noqa: E402
from course_lib.viz.figures import (
    image_grid,
    plot_history,
    plot_latent_scatter,
    show_image_rows,
    show_images,
)  # noqa: E402
from course_lib.viz.source import show_source  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def distinct_images(b: int, c: int, h: int, w: int) -> torch.Tensor:
    """(b, c, h, w) images in [0, 0.9) whose pixels are all different, so any misplacement shows."""
    return torch.arange(b * c * h * w, dtype=torch.float32).view(b, c, h, w) / (b * c * h * w) * 0.9


@pytest.mark.parametrize("channels", [1, 3])
def test_image_grid_layout_and_pixel_blocks(channels):
    b, h, w, nrow, pad = 10, 5, 7, 4, 1
    images = distinct_images(b, channels, h, w)
    grid = image_grid(images, nrow=nrow, padding=pad)
    rows = 3  # ceil(10 / 4)
    expected = (rows * h + (rows - 1) * pad, nrow * w + (nrow - 1) * pad)  # (17, 31)
    assert grid.shape == (expected if channels == 1 else (*expected, 3))
    assert isinstance(grid, np.ndarray)
    for i in range(b):
        r, col = divmod(i, nrow)
        block = grid[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w]
        want = images[i].permute(1, 2, 0).numpy()  # (H, W, C)
        np.testing.assert_array_equal(block, want[..., 0] if channels == 1 else want)
    # Padding lines and the two empty cells of the last row are white.
    assert np.all(grid[h] == 1.0) and np.all(grid[:, w] == 1.0)
    assert np.all(grid[2 * (h + pad) :, 2 * (w + pad) :] == 1.0)


def test_image_grid_with_fewer_images_than_nrow_and_zero_padding():
    images = distinct_images(3, 1, 4, 4)
    grid = image_grid(images, nrow=8, padding=0)
    assert grid.shape == (4, 12)
    np.testing.assert_array_equal(grid[:, 8:12], images[2, 0].numpy())


def test_image_grid_clamps_to_unit_range():
    images = torch.tensor([-1.0, 0.5, 2.0]).view(1, 1, 1, 3)
    np.testing.assert_array_equal(image_grid(images), [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize(
    "shape", [(10, 28, 28), (10, 2, 5, 5), (10, 4, 5, 5), (28, 28), (1, 1, 1, 5, 5)]
)
def test_image_grid_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")):
        image_grid(torch.rand(*shape))
    with pytest.raises(ValueError):
        show_images(torch.rand(*shape))


def test_show_images_draws_one_image_with_title():
    images = distinct_images(6, 1, 5, 5)
    ax = show_images(images, nrow=3, title="six")
    assert len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), image_grid(images, nrow=3))
    assert ax.get_title() == "six"
    assert not ax.axison


def test_show_images_into_a_given_axes():
    _, ax = plt.subplots()
    assert show_images(distinct_images(2, 1, 3, 3), ax=ax) is ax
    assert ax.get_title() == ""


def test_show_image_rows_one_labelled_axes_per_row():
    fig = show_image_rows(
        {"original": distinct_images(4, 1, 5, 5), "reconstruction": distinct_images(3, 1, 5, 5)}
    )
    assert [ax.get_ylabel() for ax in fig.axes] == ["original", "reconstruction"]
    assert [len(ax.images) for ax in fig.axes] == [1, 1]


@pytest.mark.parametrize("count", [10, 16, 40])
def test_default_image_figures_fit_the_book_column_and_keep_strips_wide(count):
    # the book's column is ~7.5 in at 100 dpi: wider figures are shrunk, labels with them;
    # a strip of 10 or more images should still be at least ~6 in (600 px) wide
    mnist = torch.rand(count, 1, 28, 28)
    rows = show_image_rows({"a": mnist, "b": mnist})
    grid = show_images(mnist, nrow=count).figure
    for fig in (rows, grid):
        width = fig.get_size_inches()[0]
        assert 6.0 <= width <= 7.5, width
    assert all(ax.yaxis.label.get_fontsize() >= 9 for ax in rows.axes)
    plt.close("all")


def test_plot_history_draws_loss_keys_only():
    history = {
        "train_loss": [3.0, 2.0, 1.5],
        "test_loss": [3.5, 2.5, 2.0],
        "seconds": [1.0, 1.0, 1.0],
    }
    ax = plot_history(history, title="AE")
    lines = ax.get_lines()
    assert len(lines) == 2
    assert [line.get_label() for line in lines] == ["train loss", "test loss"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), history["test_loss"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "test loss"]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss" and ax.get_title() == "AE"


def test_plot_history_chosen_keys_and_log_scale():
    ax = plot_history(
        {"train_loss": [1.0, 0.1], "seconds": [2.0, 3.0]}, keys=["seconds"], ylabel="s", logy=True
    )
    assert [line.get_label() for line in ax.get_lines()] == ["seconds"]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "s"


def test_plot_history_of_a_real_fit(monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    model = torch.nn.Linear(2, 1)
    x = torch.randn(16, 2)
    history = fit(
        model,
        lambda m, v: m(v).pow(2).mean(),
        x,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        batch_size=8,
        test_data=x,
    )
    assert len(plot_history(history).get_lines()) == 2


def test_plot_latent_scatter_one_collection_per_label():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(50, 2, generator=g)
    labels = torch.tensor([3, 1, 7] * 16 + [1, 3])
    ax = plot_latent_scatter(codes, labels, title="latent")
    collections = ax.collections
    assert len(collections) == 3
    assert [c.get_label() for c in collections] == ["1", "3", "7"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1", "3", "7"]
    counts = {c.get_label(): len(c.get_offsets()) for c in collections}
    assert counts == {"1": 17, "3": 17, "7": 16}
    np.testing.assert_allclose(collections[2].get_offsets(), codes[labels == 7].numpy())
    assert ax.get_title() == "latent"


def test_plot_latent_scatter_respects_max_points():
    codes = torch.randn(100, 2)
    labels = torch.arange(100) % 4
    ax = plot_latent_scatter(codes, labels, max_points=10)
    assert sum(len(c.get_offsets()) for c in ax.collections) == 10


@pytest.mark.parametrize("shape", [(10, 3), (10,), (10, 2, 1)])
def test_plot_latent_scatter_rejects_non_2d_codes(shape):
    with pytest.raises(ValueError, match="reduce to 2-D"):
        plot_latent_scatter(torch.randn(*shape), torch.zeros(10, dtype=torch.long))


def test_show_source_of_a_class_names_file_and_line():
    code = show_source(ConvAutoencoder)
    assert isinstance(code, Code)
    text = code.data
    source_file = REPO / "course_lib" / "models" / "autoencoder.py"
    line = 1 + source_file.read_text(encoding="utf-8").splitlines().index(
        "class ConvAutoencoder(nn.Module):"
    )
    first = text.splitlines()[0]
    assert "course_lib/models/autoencoder.py" in first
    assert f"line {line}" in first
    assert "class ConvAutoencoder" in text
    assert "def forward" in text
    assert "class LinearAutoencoder" not in text  # only the class, not the whole file


def test_show_source_of_a_function_and_a_method():
    text = show_source(fit).data
    assert "course_lib/training/fit.py" in text.splitlines()[0]
    assert "def fit(" in text
    method = show_source(ConvAutoencoder.encode).data
    assert "def encode" in method and "def decode" not in method


@pytest.mark.parametrize("obj", [len, 3, torch.randn])
def test_show_source_without_python_source_raises_type_error(obj):
    with pytest.raises(TypeError, match="Cannot show the source"):
        show_source(obj)


def test_show_source_line_number_agrees_with_inspect():
    _, first_line = inspect.getsourcelines(ConvAutoencoder.forward)
    assert f"line {first_line}\n" in show_source(ConvAutoencoder.forward).data


def test_show_source_unwraps_torch_no_grad_to_the_decorated_function():
    """@torch.no_grad() wraps a function in torch/utils/_contextlib.py; show its own code."""
    from course_lib.training.rbm import cd_gradient

    assert "_contextlib" in inspect.getsourcefile(cd_gradient)  # the wrapper, without unwrapping
    text = show_source(cd_gradient).data
    _, first_line = inspect.getsourcelines(inspect.unwrap(cd_gradient))
    assert text.splitlines()[0] == f"# course_lib/training/rbm.py, line {first_line}"
    assert "def cd_gradient(" in text
    assert "_contextlib" not in text and "def decorate_context" not in text


def test_show_profile_marks_every_figure_in_the_smoke_profile_only(capsys):
    from course_lib.runtime.config import SMOKE_WARNING, settings_for
    from course_lib.viz.figures import SMOKE_MARK, show_profile

    def marks() -> list[str]:
        figure, _ = plt.subplots()
        texts = [text.get_text() for text in figure.texts]
        plt.close(figure)
        return texts

    try:
        show_profile(settings_for("01_autoencoder", "smoke"))
        assert capsys.readouterr().out.startswith(SMOKE_WARNING)
        assert marks() == [SMOKE_MARK]
        show_profile(settings_for("01_autoencoder", "smoke"))  # twice: still one mark
        assert marks() == [SMOKE_MARK]
        capsys.readouterr()
        show_profile(settings_for("01_autoencoder", "cpu"))
        assert "SMOKE" not in capsys.readouterr().out and marks() == []
    finally:
        plt.rcParams["figure.hooks"] = []


def test_show_source_of_a_decorated_function_names_its_own_file():
    from course_lib.training.rbm import cd_gradient  # wrapped by torch.no_grad

    assert inspect.getsourcefile(cd_gradient).endswith("_contextlib.py")  # what went wrong before
    text = show_source(cd_gradient).data
    assert text.splitlines()[0].startswith("# course_lib/training/rbm.py, line ")
    assert "def cd_gradient(" in text
