"""The %interp magics in a real IPython shell, including their one-line errors."""

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

import interp


@pytest.fixture(scope="module")
def shell(tiny_folder):
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "interp")
    sh.user_ns["causal_dir"], sh.user_ns["bidi_dir"] = tiny_folder("gpt2"), tiny_folder("bert")
    yield sh
    sh.run_line_magic("unload_ext", "interp")


def magic(shell, line):
    return shell.run_line_magic("interp", line)


def test_load_and_hooks(shell, capsys):
    magic(shell, "load {causal_dir} as c")
    magic(shell, "load {bidi_dir} as b")
    assert isinstance(shell.user_ns["c"], interp.Model) and shell.user_ns["b"].kind == "bidirectional"
    assert "c = Model(" in capsys.readouterr().out
    magic(shell, "hooks c")
    out = capsys.readouterr().out.splitlines()
    assert "blocks.0.attn.hook_pattern" in out and len(out) == len(shell.user_ns["c"].hook_names())


def test_analyses_return_results(shell):
    magic(shell, "load {causal_dir} as c")
    magic(shell, "load {bidi_dir} as b")
    att = magic(shell, 'attention c "the keys to the cabinet are here ."')
    assert isinstance(att, interp.AttentionResult) and att.tokens[1] == "the"
    lens = magic(shell, 'lens b "the [MASK] barked ." --answer dog')
    assert isinstance(lens, interp.LensResult) and lens.answer == "dog"
    magic(shell, "load tiny-causal as z")  # the zoo ships its tuned-lens translators
    tuned = magic(shell, 'lens z "anna lives in oslo . anna lives in" --lens tuned')
    plain = interp.logit_lens(shell.user_ns["z"], "anna lives in oslo . anna lives in", lens="tuned")
    assert tuned.lens == "tuned" and np.array_equal(tuned.answer_prob, plain.answer_prob)
    magic(shell, "load tiny-bidirectional as zb")
    both = magic(shell, 'compare z zb "the keys to the cabinet ___ here ." --answer are --lens tuned')
    assert both.causal.lens.lens == both.bidirectional.lens.lens == "tuned"
    attr = magic(shell, 'attribute c "anna lives in oslo . anna lives in" --answer oslo --method saliency')
    assert attr.method == "saliency" and attr.answer == "oslo"
    cmp = magic(shell, 'compare c b "the keys to the cabinet ___ here ." --answer are')
    assert isinstance(cmp, interp.Comparison) and cmp.answer == "are"
    abl = magic(shell, 'ablate c "the keys to the cabinet ___ here ." 0.1 1.2 --mode zero --answer are')
    assert abl.heads == ((0, 1), (1, 2))
    pat = magic(
        shell,
        'patch c "the key to the cabinet ___ here ." "the keys to the cabinet ___ here ." --answer is --contrast are',
    )
    assert isinstance(pat, interp.PatchingResult) and pat.hook == "resid_post"
    imp = magic(shell, 'importance b "the keys to the cabinet ___ here ." --answer are')
    assert isinstance(imp, interp.HeadImportanceResult) and imp.answer == "are"


@pytest.mark.parametrize(
    "line, message",
    [
        ('attention nope "text"', "'nope' is not a loaded model"),
        ("load tiny-causl", "unknown model 'tiny-causl'"),
        ('attribute c "the keys" --method lime', "unknown attribution method 'lime'"),
        ('compare b c "the ___ barked ."', "first model must be causal"),
        ("frobnicate", "unknown command 'frobnicate'"),
        ("attention c", 'the following arguments are required: "text"'),
        ('ablate c "the keys ___" zero', "LAYER.HEAD"),
        ('lens c "the keys" --lens probe', "unknown lens 'probe'"),
        ('lens c "the keys" --lens tuned', "call interp.tuned_lens(model) first"),
    ],
)
def test_errors_print_one_line(shell, capsys, line, message):
    magic(shell, "load {causal_dir} as c")
    magic(shell, "load {bidi_dir} as b")
    capsys.readouterr()
    assert magic(shell, line) is None
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("interp: ") and "Traceback" not in err


def test_each_command_prints_its_own_usage_and_a_folder_loads_under_its_last_name(shell, capsys, tmp_path):
    for command in ("attention", "lens", "compare", "load"):
        capsys.readouterr()
        assert magic(shell, f"{command} --help") is None
        out, err = capsys.readouterr()
        assert out.startswith(f"usage: %interp {command}") and not err
    import shutil

    from interp.zoo import ZOO_DIR

    folder = tmp_path / "models" / "my.model-v2"
    shutil.copytree(ZOO_DIR / "tiny-causal", folder)
    magic(shell, f"load {folder}/")
    assert isinstance(shell.user_ns.pop("my_model_v2"), interp.Model)
    magic(shell, "load /etc")  # the folder's own error, not a complaint about a variable named '_etc'
    err = capsys.readouterr().err
    assert "IPython's own names" not in err and err.startswith("interp: ") and err.count("\n") == 1


def test_help_and_unload(capsys):
    from interp.ipython import COMMANDS, usage

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "interp")
    sh.run_line_magic("interp", "help")
    out = capsys.readouterr().out
    assert '%interp compare CAUSAL BIDI "probe with ___" [--answer A]' in out
    for name, (parser, _) in COMMANDS.items():  # help is generated from the one table: nothing is left out
        assert usage(name) in out and parser.description in out
    assert set(COMMANDS) >= {"load", "hooks", "attention", "lens", "attribute", "compare", "ablate", "patch"}
    sh.run_line_magic("unload_ext", "interp")
    assert "interp" not in sh.magics_manager.magics["line"]
    sh.run_line_magic("load_ext", "interp")
    assert "interp" in sh.magics_manager.magics["line"]


def test_texts_reach_the_analyses_as_typed(shell, capsys):
    """IPython's {var} and $var expansion is off: a probe's braces and dollars are text, not variables (the
    word-level vocabulary does not know them, and says so; expanded, the text would have been read)."""
    magic(shell, "load {causal_dir} as c")
    shell.user_ns["x"] = shell.user_ns["y"] = "cabinet"
    assert interp.attention(shell.user_ns["c"], "the cabinet keys are cabinet here .") is not None
    capsys.readouterr()
    assert magic(shell, 'attention c "the {x} keys are $y here ."') is None
    assert "'{x}' and '$y' are not in" in capsys.readouterr().err


@pytest.mark.parametrize(
    "var, why",
    [
        ("__builtins__", "one of IPython's own names"),
        ("_", "one of IPython's own names"),
        ("_private", "one of IPython's own names"),
        ("In", "one of IPython's own names"),
        ("Out", "one of IPython's own names"),
        ("get_ipython", "one of IPython's own names"),
        ("exit", "one of IPython's own names"),
        ("quit", "one of IPython's own names"),
        ("print", "a Python builtin"),
        ("list", "a Python builtin"),
        ("class", "a Python keyword"),
        ("match", "a Python keyword"),
        ("1abc", "not a valid variable name"),
    ],
)
def test_as_names_that_would_break_the_namespace_are_refused(shell, capsys, var, why):
    before = {k: shell.user_ns.get(k) for k in ("__builtins__", "In", "Out", "get_ipython", "_")}
    capsys.readouterr()
    assert magic(shell, f"load tiny-causal as {var}") is None
    err = capsys.readouterr().err
    assert why in err and err.startswith("interp: ") and err.count("\n") == 1
    assert {k: shell.user_ns.get(k) for k in before} == before
    assert not isinstance(shell.user_ns.get(var), interp.Model)


def test_overwriting_a_variable_is_said(shell, capsys):
    shell.user_ns["mydata"] = [1, 2, 3]
    capsys.readouterr()
    magic(shell, "load tiny-causal as mydata")
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "mydata held a list; it now holds the loaded model"
    assert isinstance(shell.user_ns["mydata"], interp.Model)
    shell.user_ns.pop("fresh_name", None)
    magic(shell, "load tiny-causal as fresh_name")
    assert "held" not in capsys.readouterr().out


def test_a_braced_name_must_hold_a_string(shell, capsys):
    shell.user_ns["number"] = 3
    capsys.readouterr()
    assert magic(shell, "load {number} as m") is None
    assert "does not hold a string" in capsys.readouterr().err
    assert magic(shell, "load {undefined_thing} as m") is None
    assert "is not defined" in capsys.readouterr().err
