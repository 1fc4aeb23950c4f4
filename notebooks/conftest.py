"""nbval settings for the tutorials (`make nbval`).

A stored output must be identical on any machine whose numbers agree within 1e-4 relative (docs/contributing.md).
Figure data is not: plotly's JSON carries every value to the last digit (another CPU's kernels moved a colour
axis maximum in its last digits), and rendered images differ by renderer. So nbval compares text only; each
tutorial checks its figures by assertions on their data, in a cell that fails when a figure is wrong.
"""

FIGURE_DATA = (
    "application/vnd.plotly.v1+json",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "application/pdf",
)
"""Output types nbval does not compare (it already skips widget views: their model ids are random)."""


def pytest_collectstart(collector):
    # nbval's notebook collector keeps the output types it skips in `skip_compare`; it is set when the
    # collector is made, before its cells are collected and run.
    skip = getattr(collector, "skip_compare", None)
    if skip is not None:
        collector.skip_compare = tuple(skip) + tuple(k for k in FIGURE_DATA if k not in skip)
