"""Explorers: the picture is an ordinary output the controls redraw in place; no widget text."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from course_lib.viz import explorers


class Screen:
    """Stands in for IPython's display: records what was shown and every in-place update."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, display_id=None, raw=False):
        self.shown.append((obj, raw))
        if display_id:
            screen = self

            class Handle:
                def update(self, new):
                    screen.updates.append(new)

            return Handle()
        return None


@pytest.fixture
def screen(monkeypatch) -> Screen:
    fake = Screen()
    monkeypatch.setattr(explorers, "display", fake)
    return fake


def square_of(slider: widgets.FloatSlider):
    def draw():
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.imshow([[slider.value]], vmin=0, vmax=1, cmap="gray")
        return fig

    return draw


def test_the_picture_comes_first_as_a_png_and_the_controls_carry_a_readable_note(screen):
    open_before = plt.get_fignums()  # figures another test in this process left open
    slider = widgets.FloatSlider(value=0.2, min=0, max=1)
    explorers.explore(square_of(slider), [slider])
    (picture, raw_picture), (bundle, raw_bundle) = screen.shown
    assert picture.data[:8] == b"\x89PNG\r\n\x1a\n" and not raw_picture
    assert raw_bundle and bundle["text/plain"] == explorers.LIVE_NOTE
    assert bundle["application/vnd.jupyter.widget-view+json"][
        "model_id"
    ]  # the live view is still there
    assert "VBox(" not in bundle["text/plain"]
    assert plt.get_fignums() == open_before  # its figure is closed, not shown twice


def test_moving_a_slider_redraws_the_same_output(screen):
    slider = widgets.FloatSlider(value=0.2, min=0, max=1)
    explorers.explore(square_of(slider), [slider])
    first = screen.shown[0][0].data
    slider.value = 0.9
    assert len(screen.updates) == 1 and screen.updates[0].data != first
    assert len(screen.shown) == 2  # updated in place, nothing new appended


def test_with_a_run_button_only_a_click_redraws(screen):
    slider, button = widgets.FloatSlider(value=0.2, min=0, max=1), widgets.Button(description="run")
    box = explorers.explore(square_of(slider), [slider], run_button=button)
    slider.value = 0.9
    assert screen.updates == []
    button.click()
    assert len(screen.updates) == 1
    assert box.children == (slider, button)
