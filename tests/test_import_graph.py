"""tools/check_imports.py: the real tree is clean, and each rule fires on a small package built to break it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "tools" / "check_imports.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_repository_import_graph_is_clean() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "check_imports.py")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 problem(s)" in run.stderr


def test_each_rule_fires_on_a_bad_package(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "audit/__init__.py": "",
        "audit/a/__init__.py": "",
        "audit/a/one.py": "def f():\n    from audit.a import two\n    return two\n",  # lazy, and half of a cycle
        "audit/a/two.py": "from audit.a import one\n",
        "audit/b/__init__.py": "",
        "audit/b/three.py": "from audit.a.one import _hidden\nimport streamlit\n",
        "audit/b/four.py": "def g():\n    import json\n    import torch\n    return json, torch\n",
        "audit/b/cli.py": "def cmd():\n    import json\n    return json\n",
    })
    problems = _checker().check(root)
    text = "\n".join(problems)
    assert "import cycle: audit.a.one <-> audit.a.two" in text
    assert "audit/b/three.py:1: imports private _hidden from audit.a.one (another package)" in text
    assert "audit/b/three.py:2: imports streamlit: UI code belongs in app/" in text
    assert "audit/a/one.py:2: imports audit.a inside a function" in text
    assert "audit/b/four.py:2: imports json inside a function" in text
    assert "torch" not in text  # heavy libraries may be lazy
    assert "audit/b/cli.py" not in text  # commands import their implementation when run
    assert len(problems) == 5, problems


def test_cycle_through_an_eager_package_init_is_found(tmp_path: Path) -> None:
    # Importing audit.p.leaf runs audit/p/__init__.py, which imports audit.q.user, which imports audit.p.leaf.
    root = _tree(tmp_path, {
        "audit/__init__.py": "",
        "audit/p/__init__.py": "from audit.p.big import thing\n",
        "audit/p/big.py": "from audit.q.user import x\nthing = x\n",
        "audit/p/leaf.py": "y = 1\n",
        "audit/q/__init__.py": "",
        "audit/q/user.py": "from audit.p.leaf import y\nx = y\n",
    })
    problems = _checker().check(root)
    assert any(p.startswith("import cycle:") and "audit.q.user" in p and "audit.p" in p for p in problems), problems


def test_lazy_import_of_a_heavy_audit_module_is_allowed(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "audit/__init__.py": "",
        "audit/m/__init__.py": "",
        "audit/m/heavy.py": "import pandas as pd\n",
        "audit/m/light.py": "x = 1\n",
        "audit/n/__init__.py": "",
        "audit/n/user.py": "def f():\n    from audit.m import heavy, light\n    return heavy, light\n",
    })
    problems = _checker().check(root)
    assert problems == ["audit/n/user.py:2: imports audit.m inside a function: only heavy/optional libraries may be lazy"]


def test_a_lazily_re_exported_name_counts_as_its_module(tmp_path: Path) -> None:
    # `from audit.m import frame` loads audit.m.heavy through the package's PEP 562 map: a heavy import, may be lazy;
    # and a module-level import of it closes a cycle back to the importer.
    root = _tree(tmp_path, {
        "audit/__init__.py": "",
        "audit/m/__init__.py": '_EXPORTS = {"frame": "audit.m.heavy"}\n',
        "audit/m/heavy.py": "import pandas as pd\nfrom audit.n import back\nframe = pd.DataFrame\n",
        "audit/n/__init__.py": "",
        "audit/n/back.py": "def f():\n    from audit.m import frame\n    return frame\n",
        "audit/n/user.py": "from audit.m import frame\n",
    })
    problems = _checker().check(root)
    assert problems == ["import cycle: audit.m.heavy <-> audit.n.back"], problems
