"""One place for each fact: analyses listed once, views found where they register, the engine apart from the
zoo, and a saved result that opens and draws without torch."""

import ast
import subprocess
import sys
from pathlib import Path

import interp

ROOT = Path(__file__).resolve().parents[1]


def run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout


def test_the_package_exports_derive_from_the_one_list_of_analyses():
    import interp.analysis

    for name in interp.analysis.__all__:
        assert name in interp.__all__ and callable(getattr(interp, name)), name
        fn = getattr(interp, name)
        assert fn.__module__.startswith("interp.analysis.") and fn.__doc__, name
    # every public name an analysis module defines (re-exports aside) is a declared analysis or a known helper:
    # nothing exported by accident (a module need not list its analysis: the @analysis line declares it)
    import importlib

    from interp.analysis import registry

    exported = set()
    for module_name, _ in registry._module_files():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if getattr(getattr(module, name), "__module__", module_name) == module_name:
                exported.add(name)
    assert exported - set(interp.analysis.__all__) <= {"METHODS", "explain", "records"}


def test_generated_pages_are_current():
    """docs/api.md, hooks.md and zoo.md are what `python -m interp docs` writes from the code and the shipped
    models (zoo.md once kept another corpus's example probes)."""
    from interp.cli.docgen import pages

    for name, text in pages().items():
        assert (ROOT / "docs" / name).read_text() == text, (
            f"docs/{name} is stale: run `python -m interp docs`"
        )


def test_api_reference_is_generated_from_the_list():
    api = (ROOT / "docs" / "api.md").read_text()
    for name in interp.analysis.__all__:
        assert f"::: interp.{name}\n" in api


def test_views_register_where_they_are_defined():
    import interp.results
    from widgets.registry import lookup, view_modules

    modules = view_modules()
    assert "widgets.attention" in modules and "widgets.common" not in modules
    for name in interp.results.__all__:
        cls = getattr(interp.results, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, interp.results.Result)
            and cls is not interp.results.Result
        ):
            builder = lookup(cls.__new__(cls))
            assert builder is not None, f"{name} has no registered view: it would silently show as text"


def test_a_saved_result_opens_and_draws_without_torch(tmp_path, tiny_model):
    path = interp.compare(
        tiny_model("gpt2"), tiny_model("bert"), "the keys to the cabinet ___ on the table .", n_steps=4
    ).save(tmp_path / "cmp.npz")
    out = run(
        "import sys, interp.results, widgets\n"
        f"r = interp.results.load_result({str(path)!r})\n"
        "fig = widgets.figure(r, kind='summary')\n"
        f"widgets.save_html(r, {str(tmp_path / 'cmp.html')!r})\n"
        "print(type(r).__name__, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    assert out.strip() == "Comparison False False"
    assert (tmp_path / "cmp.html").stat().st_size > 1000


def test_the_top_level_package_is_lazy():
    out = run(
        "import sys, interp\n"
        "print('torch' in sys.modules, 'interp.zoo.corpus' in sys.modules)\n"
        "print(len(interp.zoo.corpus.generate(2, seed=0)), 'interp.zoo.corpus' in sys.modules)\n"
        "print(callable(interp.compare), 'torch' in sys.modules)\n"
    )
    assert out.split("\n")[:3] == ["False False", "2 True", "True True"]


def test_the_engine_does_not_import_the_zoo():
    for path in (ROOT / "interp" / "models").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("interp.zoo"), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("interp.zoo") for a in node.names), path.name
    from interp.models import sources
    from interp.zoo import ZOO_DIR

    source, folder = sources.find("tiny-causal")
    assert source.name == "zoo" and folder == ZOO_DIR / "tiny-causal"


def test_mean_ablation_defaults_to_the_zoo_corpus_only_for_zoo_models(causal, tiny_model):
    from interp.analysis.ablation import reference_texts
    from interp.models import sources

    assert sources.owner(causal).name == "zoo" and sources.owner(tiny_model("gpt2")) is None
    texts = reference_texts(causal, 4)
    assert len(texts) == 4 and all(isinstance(t, str) and t for t in texts)
    r = interp.ablate(causal, "the keys to the cabinet ___ on the table .", [(0, 0)], mode="mean")
    assert r.mode == "mean"


def test_the_command_line_lives_in_one_package():
    out = subprocess.run(
        [sys.executable, "-m", "interp", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "demo" in out and "hooks" in out and "docs" in out
    assert not (ROOT / "interp" / "demo.py").exists() and not (ROOT / "interp" / "docgen.py").exists()
