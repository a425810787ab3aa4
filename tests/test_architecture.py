"""The rules of ARCHITECTURE.md that a machine can check.

- the core (storefront/) never imports the bundled plugins (plugins/);
- a plugin never imports another plugin;
- every bundled plugin loads (its hook implementations all match a hookspec)
  and prefixes its tables with its name;
- templates never mark content ``|safe`` unless the variable is sanitised
  (whitelist below), and every POST form carries a CSRF token.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "storefront"
PLUGINS = ROOT / "plugins"


def _py_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute names of every module ``path`` imports (relative imports resolved),
    including ``importlib.import_module("...")`` / ``__import__("...")`` literals."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def _is_plugins_module(name: str) -> bool:
    return name == "plugins" or name.startswith("plugins.")


def plugin_packages() -> list[Path]:
    if not PLUGINS.is_dir():
        return []
    return sorted(p for p in PLUGINS.iterdir() if (p / "__init__.py").is_file())


# -- imports -----------------------------------------------------------------------

def test_import_scanner_sees_every_form(tmp_path, monkeypatch):
    """The scanner itself: a test that can fail."""
    fake = ROOT / "plugins" / "fake_scan" / "hooks.py"
    source = ("import plugins.coupons\nfrom plugins import presale\nfrom ..coupons import services\n"
              "import importlib\nimportlib.import_module('plugins.aftersales')\n")
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    names = [name for _line, name in imported_modules(fake)]
    assert "plugins.coupons" in names
    assert "plugins.presale" in names
    assert "plugins.coupons.services" in names
    assert "plugins.aftersales" in names


def test_core_never_imports_plugins():
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                 for path in _py_files(CORE)
                 for line, name in imported_modules(path) if _is_plugins_module(name)]
    assert offenders == [], "storefront/ must not know any plugin:\n" + "\n".join(offenders)


@pytest.mark.skipif(not plugin_packages(), reason="no bundled plugins yet")
def test_no_plugin_imports_another_plugin():
    offenders = []
    for package in plugin_packages():
        own = f"plugins.{package.name}"
        for path in _py_files(package):
            for line, name in imported_modules(path):
                if _is_plugins_module(name) and name != "plugins" and not (
                        name == own or name.startswith(own + ".")):
                    offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offenders == [], "plugins talk through hooks, not imports:\n" + "\n".join(offenders)


_LOAD_CHECK = r"""
import sys
from storefront import create_app
from storefront.extensions import db
from storefront.plugins.host import get_host

name = sys.argv[1]
app = create_app({"TESTING": True, "SECRET_KEY": "x", "STOREFRONT_LOAD_ENTRY_POINTS": False,
                  "SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[2] + "/load.db",
                  "STOREFRONT_PLUGINS": ["plugins." + name]}, instance_path=sys.argv[2])
manifest = get_host(app).plugins[name]
assert manifest.name == name, manifest.name
bad = []
if manifest.models is not None:
    package = manifest.models.__name__.rsplit(".", 1)[0]
    for mapper in db.Model.registry.mappers:
        module = mapper.class_.__module__
        if module == package or module.startswith(package + "."):
            bad += [t.name for t in mapper.tables if not t.name.startswith(name + "_")]
assert not bad, f"tables not prefixed with {name}_: {bad}"
print("ok")
"""


@pytest.mark.parametrize("package", plugin_packages(), ids=lambda p: p.name)
def test_bundled_plugin_loads_and_prefixes_its_tables(package, tmp_path):
    # In a subprocess: a plugin's models would otherwise join the test
    # session's metadata, whose tables the fixtures create and wipe.
    result = subprocess.run([sys.executable, "-c", _LOAD_CHECK, package.name, str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


# -- templates -----------------------------------------------------------------------

def template_files() -> list[Path]:
    folders = [CORE / "templates", *(p / "templates" for p in plugin_packages())]
    return sorted(f for folder in folders if folder.is_dir() for f in folder.rglob("*.html"))


def _template_name(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("templates") + 1:])


#: ``|safe`` is allowed only on values sanitised in Python (nh3) before they
#: reach the template: (template name, the expression before ``|safe``).
SAFE_WHITELIST: set[tuple[str, str]] = set()

_SAFE = re.compile(r"\{\{(?P<expr>[^}]*?)\|\s*safe\b[^}]*\}\}")
_AUTOESCAPE_OFF = re.compile(r"\{%-?\s*autoescape\s+false")


def test_templates_do_not_mark_content_safe():
    offenders = []
    for path in template_files():
        source = path.read_text(encoding="utf-8")
        for match in _SAFE.finditer(source):
            key = (_template_name(path), match.group("expr").strip())
            if key not in SAFE_WHITELIST:
                line = source.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
        if _AUTOESCAPE_OFF.search(source):
            offenders.append(f"{path.relative_to(ROOT)}: autoescape false")
    assert offenders == [], "unsanitised |safe in templates:\n" + "\n".join(offenders)


_FORM = re.compile(r"<form\b(?P<attrs>[^>]*)>(?P<body>.*?)</form>", re.S | re.I)
_POST = re.compile(r"""method\s*=\s*["']?post""", re.I)
_INCLUDE = re.compile(r"""\{%-?\s*include\s+["']([^"']+)["']""")
_CSRF = re.compile(r"csrf_token|hidden_tag\(\)")


def _with_includes(body: str, by_name: dict[str, Path], depth: int = 0) -> str:
    if depth > 3:
        return body

    def expand(match: re.Match) -> str:
        included = by_name.get(match.group(1))
        if included is None:
            return match.group(0)
        return _with_includes(included.read_text(encoding="utf-8"), by_name, depth + 1)

    return _INCLUDE.sub(expand, body)


def post_forms_without_csrf(files: list[Path]) -> list[str]:
    by_name = {_template_name(p): p for p in files}
    missing = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        for match in _FORM.finditer(source):
            if not _POST.search(match.group("attrs")):
                continue
            if not _CSRF.search(_with_includes(match.group("body"), by_name)):
                line = source.count("\n", 0, match.start()) + 1
                missing.append(f"{path.relative_to(ROOT)}:{line}")
    return missing


def test_every_post_form_has_a_csrf_token():
    assert template_files(), "no templates found"
    missing = post_forms_without_csrf(template_files())
    assert missing == [], "POST forms without csrf_token:\n" + "\n".join(missing)


def test_csrf_checker_catches_a_bare_form(tmp_path):
    folder = tmp_path / "templates" / "x"
    folder.mkdir(parents=True)
    bare = folder / "bare.html"
    bare.write_text('<form method="post" action="/x"><button>Go</button></form>\n'
                    '<form method="get"><input name="q"></form>')
    good = folder / "good.html"
    good.write_text('<form action="/y" METHOD=POST>{% include "x/_fields.html" %}</form>')
    (folder / "_fields.html").write_text("{{ form.csrf_token }}")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert post_forms_without_csrf([bare, good, folder / "_fields.html"]) == ["templates/x/bare.html:1"]
    finally:
        ROOT = saved
