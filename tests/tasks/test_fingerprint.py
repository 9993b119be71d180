import ast
import textwrap

import pytest

from tasks import fingerprint
from tasks.fingerprint import canonical_hash, code_hashes


@pytest.fixture
def fake_pipeline(tmp_path, monkeypatch):
    """A throwaway ``pipeline`` package whose sources the test edits."""
    root = tmp_path / "pipeline"
    (root / "models").mkdir(parents=True)
    files = {
        "__init__.py": '"""Package."""\n',
        "models/__init__.py": "FLOAT = 'float32'\n",
        "models/optim.py": "def sgd(p, g, lr):\n    return p - lr * g\n",
        "models/net.py": "from pipeline.models.optim import sgd\n\n\ndef step(p, g):\n    return sgd(p, g, 0.1)\n",
        "models/other.py": "from .optim import sgd\n\nRATE = 2\n",
        "data.py": "import numpy as np\n\nX = 1\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    monkeypatch.setattr(fingerprint, "PIPELINE_ROOT", root)
    fingerprint.clear_code_cache()
    yield root
    fingerprint.clear_code_cache()


def _edit(root, name, text):
    (root / name).write_text(textwrap.dedent(text))
    fingerprint.clear_code_cache()


def test_closure_follows_absolute_and_relative_imports_and_parents(fake_pipeline):
    assert set(code_hashes(["pipeline.models.net"])) == {
        "pipeline", "pipeline.models", "pipeline.models.net", "pipeline.models.optim"}
    assert set(code_hashes(["pipeline.models.other"])) == {
        "pipeline", "pipeline.models", "pipeline.models.other", "pipeline.models.optim"}
    assert set(code_hashes(["pipeline.data"])) == {"pipeline", "pipeline.data"}  # numpy is not ours


def test_comments_docstrings_and_formatting_do_not_count(fake_pipeline):
    before = code_hashes(["pipeline.models.net"])
    _edit(fake_pipeline, "models/optim.py", '''
        """Optimisers."""
        # plain SGD
        def sgd(p, g, lr):   # one step
            """Return the updated parameter."""
            return (p -
                    lr * g)
        ''')
    assert code_hashes(["pipeline.models.net"]) == before


def test_code_edits_count_and_flow_through_imports(fake_pipeline):
    before_net, before_data = code_hashes(["pipeline.models.net"]), code_hashes(["pipeline.data"])
    _edit(fake_pipeline, "models/optim.py", "def sgd(p, g, lr):\n    return p - 2 * lr * g\n")
    after = code_hashes(["pipeline.models.net"])
    assert after["pipeline.models.optim"] != before_net["pipeline.models.optim"]
    assert after["pipeline.models.net"] == before_net["pipeline.models.net"]
    assert code_hashes(["pipeline.data"]) == before_data


def test_unknown_module_is_an_error(fake_pipeline):
    with pytest.raises(ValueError, match="no source file for module 'pipeline.nope'"):
        code_hashes(["pipeline.nope"])


def test_canonical_hash_ignores_key_order():
    assert canonical_hash({"a": 1, "b": [1, 2]}) == canonical_hash({"b": [1, 2], "a": 1})
    assert canonical_hash({"a": 1}) != canonical_hash({"a": "1"})


def test_real_stage_code_covers_shared_modules():
    hashes = code_hashes(["pipeline.models.char_rnn"])
    assert {"pipeline.models.optim", "pipeline.models.layers", "pipeline.training"} <= set(hashes)
    assert "pipeline.models.deep_mlp" not in hashes


def test_parse_retries_cpythons_spurious_recursion_depth_error(monkeypatch):
    real_parse, calls = ast.parse, []

    def flaky(source, filename):
        calls.append(filename)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=189, after=33)")
        return real_parse(source, filename=filename)

    monkeypatch.setattr(fingerprint.ast, "parse", flaky)
    assert isinstance(fingerprint._parse("x = 1\n", "m.py"), ast.Module) and len(calls) == 2
    with pytest.raises(SyntaxError):
        fingerprint._parse("x = (\n", "broken.py")
    monkeypatch.setattr(fingerprint.ast, "parse", lambda source, filename: (_ for _ in ()).throw(SystemError("other")))
    with pytest.raises(SystemError, match="other"):
        fingerprint._parse("x = 1\n", "m.py")
