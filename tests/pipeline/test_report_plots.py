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
    (image,) = [im for ax in fig.axes for im in ax.images]  # one image of all the tiles
    mosaic = np.asarray(image.get_array())
    step = plots.TILE + plots.GAP
    assert mosaic.shape == (8 * step - plots.GAP, 8 * step - plots.GAP)
    for unit in range(64):
        r, c = divmod(unit, 8)
        tile = w[:, unit].reshape(28, 28)
        shown = mosaic[r * step : r * step + 28, c * step : c * step + 28]
        np.testing.assert_allclose(shown, tile / np.abs(tile).max(), rtol=1e-6)  # its own symmetric scale
    assert all(np.isnan(mosaic[r * step + 28 : (r + 1) * step, :]).all() for r in range(7))  # blank between rows
    assert plots.filter_units(w[:, :10]) == list(range(10))


def test_misclassified_digits_are_drawn_in_order_with_their_labels():
    images = np.random.default_rng(1).random((7, 784)).astype(np.float32)
    fig = plots.misclassified(images, np.arange(7), np.arange(7)[::-1], "Deep net", cols=3)
    ((ax,),) = [fig.axes]
    mosaic = np.asarray(ax.images[0].get_array())
    labels = [t.get_text() for t in ax.texts]
    assert labels == [f"true {k} → {6 - k}" for k in range(7)]
    for k, text in enumerate(ax.texts):  # each label centred just above its digit
        x, y = text.get_position()
        top, left = int(y) + 2, int(x) - 14  # the label sits 1.5 px above its digit
        np.testing.assert_array_equal(mosaic[top : top + 28, left : left + 28], images[k].reshape(28, 28))
