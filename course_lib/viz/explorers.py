"""Live pictures driven by widgets that still read right in a saved notebook and in the book.

A plain ``display(widget)`` leaves nothing useful behind: opened without a running kernel,
JupyterLab shows the widget's text form (``HBox(children=(VBox(...``), and the static book shows
nothing. An explorer here draws its picture as an ordinary output, saved with the notebook and
shown in the book, and redraws that same output in place when a control changes. The controls come
after it, with a one-line note in place of their text form for readers without a kernel.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Image, display

LIVE_NOTE = "Run this cell for live controls; the picture above shows their current values."


def figure_png(figure: plt.Figure, dpi: int = 100) -> Image:
    """``figure`` as a PNG output, closed so that the notebook does not show it a second time."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return Image(data=buffer.getvalue(), format="png")


def explore(
    draw: Callable[[], plt.Figure],
    controls: Sequence[widgets.Widget],
    run_button: widgets.Button | None = None,
    note: str = LIVE_NOTE,
) -> widgets.VBox:
    """Show ``draw()``'s figure, then ``controls``; redraw on each change or ``run_button`` click.

    ``draw`` reads the controls' current values itself (a closure) and returns a new figure. With
    ``run_button`` (for a slow ``draw``) the picture changes only when it is clicked. Returns the
    box of controls, so that a test or a student can set values from code.
    """
    picture = display(figure_png(draw()), display_id=True)

    def redraw(_=None) -> None:
        picture.update(figure_png(draw()))

    if run_button is None:
        for control in controls:
            control.observe(redraw, names="value")
    else:
        run_button.on_click(redraw)
    box = widgets.VBox([*controls, *([run_button] if run_button is not None else [])])
    bundle = (
        box._repr_mimebundle_()
    )  # IPython's display protocol: the widget view and its text form
    bundle["text/plain"] = (
        note  # what a reader without a kernel sees instead of "VBox(children=..."
    )
    display(bundle, raw=True)
    return box
