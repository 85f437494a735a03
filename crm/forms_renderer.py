"""Select boxes drawn in Python rather than one template per option.

Django draws every <option> through a template include. A select of the 1,500 unions, or of the
250 countries, then costs tens of milliseconds on every form that shows it, and the contact
list, the consultation form and the report filters show several: most of the CPU of those pages
went there under load (bench/web.py). The markup is the same, character for character, as
Django's own templates draw it (tests/crm/test_forms_renderer.py compares them); any select
whose options use another template is drawn by the templates as before.
"""

from __future__ import annotations

from typing import Any

from django.forms.renderers import DjangoTemplates
from django.template import Context
from django.template.base import render_value_in_context
from django.utils.html import conditional_escape

SELECT = "django/forms/widgets/select.html"
OPTION = "django/forms/widgets/select_option.html"


def _attrs(attrs: dict[str, Any], context: Context) -> str:
    # django/forms/widgets/attrs.html: False leaves the attribute out, True writes it bare.
    return "".join(
        f" {render_value_in_context(name, context)}"
        + ("" if value is True else f'="{conditional_escape(str(value))}"')
        for name, value in attrs.items()
        if value is not False
    )


def select_html(widget: dict[str, Any]) -> str | None:
    """What django/forms/widgets/select.html draws for this widget context, or None when an
    option asks for a template of its own."""
    context = Context(autoescape=True)
    parts = [f'<select name="{render_value_in_context(widget["name"], context)}"']
    parts.append(_attrs(widget["attrs"], context) + ">")
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{render_value_in_context(group_name, context)}">')
        for option in group_choices:
            if option["template_name"] != OPTION:
                return None
            parts.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                f"{_attrs(option['attrs'], context)}>"
                f"{render_value_in_context(option['label'], context)}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")  # the renderer strips what the template ends with
    return "".join(parts)


class FormRenderer(DjangoTemplates):
    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if template_name == SELECT:
            drawn = select_html(context["widget"])
            if drawn is not None:
                return drawn
        return super().render(template_name, context, request)
