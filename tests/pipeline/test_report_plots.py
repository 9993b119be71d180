"""Report figures: nothing covers the data or runs into another element (measured on the drawn figure)."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from pipeline.report import plots
from pipeline.report.references import CLASSIFIERS


def drawn(fig):
    FigureCanvasAgg(fig).draw()
    return fig


def test_per_digit_legend_covers_no_bar():
    fig = drawn(plots.per_class_accuracy({f: np.full(10, 0.99) for f in CLASSIFIERS}))  # bars up to the top
    ax = fig.axes[0]
    assert not ax.get_legend().get_window_extent().overlaps(ax.get_window_extent())


def test_confusion_matrix_title_stays_clear_of_the_colour_bar():
    fig = drawn(
        plots.confusion(np.eye(10, dtype=int) * 50, "Confusion matrix: deep net (784-625-625-10, ReLU, dropout)")
    )
    matrix, colour_bar = fig.axes
    titles = [t for t in (fig._suptitle, matrix.title, colour_bar.title) if t is not None and t.get_text()]
    assert titles
    for title in titles:
        box = title.get_window_extent()
        assert not box.overlaps(colour_bar.get_window_extent()) and not box.overlaps(matrix.get_window_extent())


def test_weight_tiles_show_the_units_the_title_names_in_order():
    w = np.random.default_rng(0).standard_normal((784, 625)).astype(np.float32)
    fig = plots.first_layer_filters(w, "Simple net: first-layer weights")
    assert fig._suptitle.get_text() == "Simple net: first-layer weights: units 1-64 of 625"
    tiles = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(tiles) == 64
    for unit, tile in enumerate(tiles):
        np.testing.assert_array_equal(tile, w[:, unit].reshape(28, 28))
    assert plots.filter_units(w[:, :10]) == list(range(10))
