"""System checks of deployment settings that Django's own checks do not know about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


def _served_folders() -> list[Path]:
    folders: list[Any] = [settings.STATIC_ROOT, settings.MEDIA_ROOT]
    for entry in settings.STATICFILES_DIRS:
        folders.append(entry[1] if isinstance(entry, tuple | list) else entry)
    return [Path(folder).resolve() for folder in folders if folder]


@register("security", deploy=False)
def import_dir_not_served(**kwargs: Any) -> list[CheckMessage]:
    """Uploaded spreadsheets are lists of union members: never under a folder a server serves."""
    imports = Path(settings.IMPORT_DIR).resolve()
    return [
        Error(
            f"IMPORT_DIR ({imports}) is inside {folder}, which is served as static or media "
            "files: uploaded spreadsheets could be downloaded by anyone.",
            hint="Set IMPORT_DIR to a folder outside STATIC_ROOT, MEDIA_ROOT and the static "
            "folders.",
            id="crm.E001",
        )
        for folder in _served_folders()
        if imports.is_relative_to(folder)
    ]
