"""Editable mail templates: the registry of mails an operator may reword, and the sandbox their
wording renders in.

Each app registers its mails with one `mail_register(...)` call next to the function that sends
it (`provisioning/emails.py`, ...): the shipped template's name, a label and category for the
back office, the variables the mail offers (listed beside the editor) and a builder of sample
data (no real customer) for the preview and for checking a template before it is saved.

An operator's template is text typed into the back office, so it renders in a sandbox:
- its own template engine: autoescape on, only the `i18n` library loadable, `{% debug %}`
  refused, no context processors (no request, no `settings`);
- a context holding only the declared variables: `line.username` is reachable when declared, the
  line's customer, its user and password hash are not (every value is copied along the declared
  paths, never handed over as the model instance it came from).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import UNKNOWN_SOURCE, Node
from django.template.defaulttags import DebugNode
from django.template.loader import get_template
from django.utils.functional import Promise
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class Category:
    TRANSACTIONAL = "transactional"
    ONBOARDING = "onboarding"
    MARKETING = "marketing"
    CHOICES = [
        (TRANSACTIONAL, _("Transactional")),
        (ONBOARDING, _("Onboarding")),
        (MARKETING, _("Marketing")),
    ]


# What every mail's context holds (messaging/emails.py adds them), whatever the mail.
SITE_VARIABLES = ("SITE_NAME", "SITE_URL", "SUPPORT_EMAIL", "subject", "unsubscribe_url")


@dataclass(frozen=True)
class MailDefinition:
    name: str  # the shipped template's path without extension
    label: str | Promise
    category: str
    subject: str | Promise  # the default subject, itself a template ("Your {{ SITE_NAME }} …")
    variables: tuple[str, ...]  # dotted paths: "plan.name", "access.sections.items.label"
    sample: Callable[[], dict[str, Any]] = field(compare=False)


_MAILS: dict[str, MailDefinition] = {}


def mail_register(
    *,
    name: str,
    label: str | Promise,
    category: str,
    subject: str | Promise,
    variables: Iterable[str],
    sample: Callable[[], dict[str, Any]],
) -> MailDefinition:
    """Declare a mail the back office can reword (one call per mail, at import of the app's
    emails.py). Registering the same name again replaces the definition (module reloads)."""
    definition = MailDefinition(
        name=name,
        label=label,
        category=category,
        subject=subject,
        variables=tuple(variables),
        sample=sample,
    )
    _MAILS[name] = definition
    return definition


def mail_definitions() -> list[MailDefinition]:
    _discover()
    return sorted(_MAILS.values(), key=lambda d: (d.category, str(d.label)))


def mail_definition(name: str) -> MailDefinition | None:
    _discover()
    return _MAILS.get(name)


_discovered = False


def _discover() -> None:
    # The mails register where they are written; the back office may be the first to ask.
    # Once per process: every app's `emails` module is imported by then (a walk over all apps
    # cost 1 ms of every mail rendered).
    global _discovered
    if not _discovered:
        autodiscover_modules("emails")
        _discovered = True


def shipped_source(name: str, extension: str) -> str:
    """The text of the shipped template file, the editor's starting point and "default"."""
    template = get_template(f"{name}.{extension}")
    return template.template.source  # type: ignore[attr-defined]


# --- the sandbox --------------------------------------------------------------------------------

_engine = Engine(
    app_dirs=True,  # an override still extends messaging/email/base.html and includes its parts
    libraries={"i18n": "django.templatetags.i18n"},
    builtins=["django.templatetags.i18n"],
    autoescape=True,
    debug=True,  # errors carry their line (template_debug), for the editor
)


class _Paths:
    """The declared variables as a tree: {"line": {"username": {}}, "plan": {"name": {}}}."""

    @staticmethod
    def tree(paths: Iterable[str]) -> dict[str, dict]:
        root: dict[str, dict] = {}
        for path in (*SITE_VARIABLES, *paths):
            node = root
            for part in path.split("."):
                node = node.setdefault(part, {})
        return root


_SCALARS = (str, int, float, bool, type(None))


def _copy(value: Any, tree: dict[str, dict]) -> Any:
    """`value` reduced to the declared paths below it: plain values as they are, objects and
    mappings as dicts of their declared attributes, lists element by element."""
    if isinstance(value, Promise):
        value = str(value)
    if isinstance(value, list | tuple):
        return [_copy(item, tree) for item in value]
    if not tree:
        if isinstance(value, _SCALARS) or _is_plain_value(value):
            return value
        # An object nobody declared attributes of shows as its text, never as the object.
        return str(value)
    result: dict[str, Any] = {}
    for key, subtree in tree.items():
        result[key] = _copy(_lookup(value, key), subtree)
    return result


def _is_plain_value(value: Any) -> bool:
    return isinstance(value, Decimal | date | datetime | time)


def _lookup(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        found = value.get(key, "")
    else:
        found = getattr(value, key, "")
    if callable(found) and not getattr(found, "alters_data", False):
        found = found()
    elif callable(found):
        found = ""
    return found


def sandbox_context(definition: MailDefinition, values: dict[str, Any]) -> dict[str, Any]:
    """The context an operator's template sees: only what the mail declares."""
    return _copy(values, _Paths.tree(definition.variables))


@dataclass(frozen=True)
class TemplateProblem:
    part: str  # "subject", "html" or "text"
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.part}, line {self.line}: {self.reason}"


class MailTemplateInvalid(Exception):
    def __init__(self, problem: TemplateProblem):
        super().__init__(str(problem))
        self.problem = problem


def _walk(nodes: Iterable[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        for attr in node.child_nodelists:
            yield from _walk(getattr(node, attr, None) or [])


def sandbox_compile(part: str, source: str) -> Template:
    """Compile an operator's template, or raise MailTemplateInvalid with the line and reason."""
    try:
        template = _engine.from_string(source)
    except TemplateSyntaxError as exc:
        raise MailTemplateInvalid(_problem(part, exc)) from exc
    for node in _walk(template.nodelist):
        if isinstance(node, DebugNode):
            raise MailTemplateInvalid(
                TemplateProblem(
                    part, _node_line(source, node), "the {% debug %} tag is not allowed"
                )
            )
    return template


@functools.lru_cache(maxsize=512)
def sandbox_compiled(part: str, source: str) -> Template:
    """`sandbox_compile`, kept: a registered subject (or an operator's saved wording) is
    compiled once per process, not once per mail. A compiled template renders any context."""
    return sandbox_compile(part, source)


def sandbox_render(template: Template, part: str, context: dict[str, Any]) -> str:
    try:
        return template.render(Context(context, autoescape=part != "text"))
    except MailTemplateInvalid:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the operator's template is reported
        raise MailTemplateInvalid(_problem(part, exc)) from exc


def _problem(part: str, exc: Exception) -> TemplateProblem:
    debug = getattr(exc, "template_debug", None) or {}
    line = int(debug.get("line", 1))
    name = debug.get("name")
    reason = str(exc) or exc.__class__.__name__
    if name and name != UNKNOWN_SOURCE:
        # The error is inside a shipped template this one extends or includes: say which.
        reason = f"{reason} (in {name}, line {line})"
        line = 1
    return TemplateProblem(part, line, reason)


def _node_line(source: str, node: Node) -> int:
    start = node.token.position[0] if node.token and node.token.position else 0
    return source.count("\n", 0, start) + 1


def sample_values(definition: MailDefinition) -> dict[str, Any]:
    return {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
        **definition.sample(),
    }
