"""Select boxes drawn in Python are the very markup Django's templates draw."""

from __future__ import annotations

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.forms import ContactFilterForm
from crm.forms_renderer import FormRenderer
from outreach.forms import ConsultationForm
from tests.factories import UnionFactory

templates, ours = DjangoTemplates(), FormRenderer()


def _both(widget: forms.Widget, name: str, value: object) -> tuple[str, str]:
    return (
        widget.render(name, value, renderer=templates),
        widget.render(name, value, renderer=ours),
    )


CASES = [
    (forms.Select(choices=[("a", "A"), ("b", "B & <b>")]), "b"),
    (forms.Select(choices=[("", "Any"), ('"q"', "quoted"), (1, 1000), (2.5, 3)]), 1),
    (forms.Select(choices=[("Europe", [("de", "Germany"), ("fr", "France")]), ("x", "X")]), "fr"),
    (forms.Select(attrs={"required": True, "disabled": False, "data-x": "<y>"}, choices=[]), None),
    (forms.SelectMultiple(choices=[(1, "one"), (2, "two"), (3, "three")]), [1, 3]),
    (forms.NullBooleanSelect(), True),
    (forms.Select(choices=[("en", gettext_lazy("English")), ("pl", "Polski")]), "pl"),
]


@pytest.mark.parametrize(("widget", "value"), CASES)
def test_it_draws_a_select_as_the_templates_do(widget, value):
    expected, drawn = _both(widget, "field", value)
    assert drawn == expected


@settings(max_examples=60, deadline=None)
@given(
    choices=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=6),
    pick=st.integers(min_value=0, max_value=6),
    name=st.text(min_size=1, max_size=8),
)
def test_it_draws_any_text_as_the_templates_do(choices, pick, name):
    value = choices[pick][0] if pick < len(choices) else None
    expected, drawn = _both(forms.Select(choices=choices), name, value)
    assert drawn == expected


@pytest.mark.django_db
def test_it_draws_the_crms_forms_as_the_templates_do():
    for number in range(3):
        UnionFactory.create(name=f"Union & <Co> {number}")
    for form in (ContactFilterForm({"union": "1", "country": "DE"}), ConsultationForm()):
        for field in form:
            widget = field.field.widget
            value, attrs = field.value(), field.build_widget_attrs({}, widget)
            drawn = widget.render(field.html_name, value, attrs, ours)
            assert drawn == widget.render(field.html_name, value, attrs, templates), field.name


def test_it_leaves_options_with_templates_of_their_own_to_the_templates():
    class Fancy(forms.Select):
        option_template_name = "django/forms/widgets/input.html"

    widget = Fancy(choices=[("a", "A")])
    expected, drawn = _both(widget, "field", "a")
    assert drawn == expected
