"""Templates translated when they are compiled, once per language.

Every page's layout calls ``_()`` some fifteen times and a cart page some
thirty-five; each call goes through Jinja's call machinery twice, Flask-Babel's
translations and a ``Markup`` round, about a tenth of a signed-in page's CPU.
Yet a literal ``_('Your cart')`` has one answer per language for the life of
the process (the catalogs are compiled when the app starts, and Flask-Babel
keeps them loaded).

So the app's Jinja environment hands each language its own overlay environment
(:meth:`jinja2.Environment.overlay`: same loader, globals and filters, its own
compiled templates), chosen by the translations in force when a template is
looked up. An overlay compiles ``_('…')``, ``gettext('…')`` and
``pgettext('…', '…')`` with literal arguments into the translated text itself,
with exactly the runtime semantics of Jinja's new-style gettext: marked safe
where autoescaping is on, always ``%``-formatted (``%%`` is a percent sign), with
keyword arguments escaped into it. Plural forms (``ngettext``) stay runtime calls.

A template is left to the runtime calls when it binds one of those names itself
(``{% set _ = … %}``, a macro parameter), and so is a template compiled without
an app context or from a string: their output is the same, only slower.
``render_template`` and ``current_app.jinja_env.get_template`` choose the
overlay of the current language (``force_locale`` included); a template object
kept beyond one request would keep its language, so look templates up each time.
"""
from __future__ import annotations

import threading
from collections import ChainMap

from flask import Flask, has_app_context
from flask.templating import Environment
from jinja2 import nodes
from jinja2.visitor import NodeTransformer

from .i18n import current_translations

#: Translation calls whose literal arguments are resolved when compiling.
_SINGULAR = frozenset({"_", "gettext"})
_CONTEXTUAL = "pgettext"
_NAMES = _SINGULAR | {_CONTEXTUAL}
#: Languages a worker keeps overlays for; a request in yet another one is served by the
#: runtime calls. The shop speaks three.
MAX_LANGUAGES = 16


class LocalisedEnvironment(Environment):
    """Flask's template environment, with one compile-time-translated overlay per language."""

    #: Set on overlays only: the translations their templates are compiled with.
    compile_translations = None

    def __init__(self, app: Flask, **options) -> None:
        super().__init__(app, **options)
        self._overlays: dict[object, LocalisedEnvironment] = {}
        self._overlays_lock = threading.Lock()

    # Template look-ups: the base environment hands them to the language's overlay; an
    # overlay (and its templates' includes, imports and extends) keeps them.
    def get_template(self, name, parent=None, globals=None):
        target = self._for_current_language()
        if target is not self:
            return target.get_template(name, parent, globals)
        return super().get_template(name, parent, globals)

    def select_template(self, names, parent=None, globals=None):
        target = self._for_current_language()
        if target is not self:
            return target.select_template(names, parent, globals)
        return super().select_template(names, parent, globals)

    def _for_current_language(self) -> Environment:
        if self.compile_translations is not None or not has_app_context():
            return self
        translations = current_translations()
        overlay = self._overlays.get(translations)
        if overlay is not None:
            overlay.auto_reload = self.auto_reload  # Flask's debug switch sets it on the base
            return overlay
        with self._overlays_lock:
            overlay = self._overlays.get(translations)
            if overlay is None:
                if len(self._overlays) >= MAX_LANGUAGES:
                    return self
                overlay = self._overlays[translations] = self._make_overlay(translations)
        return overlay

    def _make_overlay(self, translations) -> LocalisedEnvironment:
        # A fresh cache of the base's size: copying the base's would bring templates
        # compiled with the runtime calls into the overlay.
        size = getattr(self.cache, "capacity", 400) if self.cache is not None else 0
        overlay = self.overlay(cache_size=size)
        overlay.compile_translations = translations  # which also stops it handing look-ups on
        return overlay

    def make_globals(self, d):
        return _TemplateGlobals({} if d is None else d, self.globals)

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        if self.compile_translations is not None and not _binds_translation_names(tree):
            tree = _Translate(self.compile_translations).visit(tree)
        return tree


class _TemplateGlobals(ChainMap):
    """A template's globals (its own over the environment's, as Jinja chains them), whose
    ``keys()`` is a set: every ``{% import %}`` subtracts them from the importing
    context's globals, which with a ChainMap's keys view tested each name in Python (a
    hundredth of a cart page, for its one import of the macros)."""

    def keys(self):
        return set().union(*self.maps)


def _binds_translation_names(tree: nodes.Template) -> bool:
    return any(node.name in _NAMES and node.ctx in ("store", "param") for node in tree.find_all(nodes.Name))


class _Translate(NodeTransformer):
    """Replaces literal translation calls with their text (see the module's docstring)."""

    def __init__(self, translations) -> None:
        self.translations = translations

    def visit_Call(self, node: nodes.Call):
        self.generic_visit(node)
        callee = node.node
        if (not isinstance(callee, nodes.Name) or callee.name not in _NAMES
                or node.dyn_args is not None or node.dyn_kwargs is not None):
            return node
        literals = [arg.value for arg in node.args if isinstance(arg, nodes.Const) and isinstance(arg.value, str)]
        if len(literals) != len(node.args):
            return node
        variables = {keyword.key: keyword.value for keyword in node.kwargs}
        if callee.name in _SINGULAR and len(literals) == 1:
            text = self.translations.ugettext(literals[0])
        elif callee.name == _CONTEXTUAL and len(literals) == 2:
            text = self.translations.upgettext(literals[0], literals[1])
            variables.setdefault("context", nodes.Const(literals[0]))
        else:
            return node
        if any(key.startswith("__") for key in variables):
            return node  # the runtime function's own parameters: leave its error to it
        if not node.kwargs and callee.name in _SINGULAR:
            try:
                text = text % {}
            except (TypeError, ValueError, KeyError):
                return node  # a malformed translation fails at runtime, as it did
            return nodes.MarkSafeIfAutoescape(nodes.Const(text), lineno=node.lineno)
        pairs = [nodes.Pair(nodes.Const(key), value, lineno=node.lineno) for key, value in variables.items()]
        return nodes.Mod(nodes.MarkSafeIfAutoescape(nodes.Const(text), lineno=node.lineno),
                         nodes.Dict(pairs, lineno=node.lineno), lineno=node.lineno)


def use_localised_templates(app: Flask) -> bool:
    """Make ``app`` build its template environment as a :class:`LocalisedEnvironment`.

    Call before anything reads ``app.jinja_env`` (Flask builds it on first use);
    a host app that built its own already keeps it, translated at runtime.
    """
    if "jinja_env" in app.__dict__:
        return isinstance(app.__dict__["jinja_env"], LocalisedEnvironment)
    app.jinja_environment = LocalisedEnvironment
    return True
