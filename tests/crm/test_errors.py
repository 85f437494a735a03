"""A database that does not answer is a 503 saying nothing was half-saved; anything else a 500."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from django.urls import reverse

from crm import selectors


@pytest.fixture
def failing_list(monkeypatch):
    def fail_with(error: Exception) -> None:
        def contact_list(**_kwargs):
            raise error

        monkeypatch.setattr(selectors, "contact_list", contact_list)

    return fail_with


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
    ],
)
def test_it_answers_503_with_a_message_when_the_database_is_gone(staff_client, failing_list, error):
    failing_list(error)
    staff_client.raise_request_exception = False
    response = staff_client.get(reverse("crm:contact_list"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "The database did not answer" in page
    assert "never in part" in page
    assert "no-store" in response["Cache-Control"]


def test_it_keeps_the_500_page_for_other_errors(staff_client, failing_list):
    failing_list(ValueError("a bug"))
    staff_client.raise_request_exception = False
    response = staff_client.get(reverse("crm:contact_list"))
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
