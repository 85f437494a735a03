"""Deployment settings refused by the system checks."""

from __future__ import annotations

from django.core import checks

from crm.checks import import_dir_not_served


def test_it_accepts_the_default_import_folder():
    assert [message.id for message in checks.run_checks()] == []


def test_it_refuses_an_import_folder_that_is_served(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.IMPORT_DIR = tmp_path / "static" / "imports"
    [error] = import_dir_not_served()
    assert error.id == "crm.E001"
    assert "uploaded spreadsheets could be downloaded by anyone" in error.msg
    settings.IMPORT_DIR = tmp_path / "imports"
    assert import_dir_not_served() == []
