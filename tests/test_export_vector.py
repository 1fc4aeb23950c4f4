"""Vector export for papers: widgets.save_svg and widgets.save_pdf, checked by parsing the files they write.

Exporting needs kaleido and Chromium (``make browser-deps``), as save_png does: without Chromium the export tests
skip here and fail in CI; the error path and the argument checks need neither.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import interp
from interp.errors import InputError

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def attention(tiny_model):
    return interp.attention(tiny_model("gpt2"), "the keys to the cabinet are on the table .")


def need_chromium() -> None:
    if not (shutil.which("chromium") or shutil.which("google-chrome")):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs Chromium for kaleido's vector export: make browser-deps", pytrace=False)
        pytest.skip("no Chrome/Chromium here for kaleido: make browser-deps")


def pdf_pages(data: bytes) -> int:
    """Page objects of a PDF (``/Type /Page``, not the ``/Pages`` tree), read from its uncompressed objects."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def test_svg_and_pdf_of_a_result_parse_and_carry_its_tokens(attention, tmp_path):
    import widgets

    need_chromium()
    svg = widgets.save_svg(attention, tmp_path / "attention", layer=0, head=1)
    assert svg == tmp_path / "attention.svg"
    root = ET.parse(svg).getroot()  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    assert {"keys", "cabinet"} <= {t.strip() for t in texts}, sorted(texts)[:20]  # text stays text
    pdf = widgets.save_pdf(attention, tmp_path / "attention.pdf", layer=0, head=1)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert pdf_pages(data) == 1
    assert re.search(rb"/MediaBox\s*\[", data)


def test_a_plotly_figure_exports_too_and_scale_sizes_the_svg(tmp_path):
    import plotly.graph_objects as go

    import widgets

    need_chromium()
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 0, 1], name="<b>"), layout={"width": 300, "height": 200})
    root = ET.parse(widgets.save_svg(fig, tmp_path / "fig.svg", scale=2)).getroot()
    assert (root.get("width"), root.get("height")) == ("600", "400")  # twice the layout's size
    assert root.get("viewBox") == "0 0 300 200"  # the same drawing, only its size differs


def test_export_failures_and_bad_arguments_are_one_clear_error(attention, tmp_path, monkeypatch):
    import plotly.graph_objects as go

    import widgets

    def broken(self, *args, **kwargs):
        raise RuntimeError("Kaleido requires Google Chrome to be installed.")

    with monkeypatch.context() as m:
        m.setattr(go.Figure, "to_image", broken)
        for save, fmt in ((widgets.save_svg, "SVG"), (widgets.save_pdf, "PDF")):
            with pytest.raises(interp.InterpError, match=rf"{fmt} export failed .*make browser-deps"):
                save(attention, tmp_path / "x")
            assert not list(tmp_path.iterdir())  # nothing half-written
    for save in (widgets.save_svg, widgets.save_pdf):
        with pytest.raises(InputError, match="must be an interp result"):
            save("the dog", tmp_path / "a")
        with pytest.raises(InputError, match="is a folder"):
            save(attention, tmp_path)
        with pytest.raises(InputError, match="scale must be a finite number > 0"):
            save(attention, tmp_path / "a", scale=0)
