"""Where the admin's import (django-import-export) keeps an upload between preview and confirm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage

# A folder of IMPORT_DIR beside the import pages' own (named by job number), so that the same
# clean-up removes what an abandoned preview left.
ADMIN_UPLOADS = "admin"


class AdminUploadStorage(FileSystemStorage):
    """Uploads under IMPORT_DIR, outside anything served, instead of the system's temp folder."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("location", Path(settings.IMPORT_DIR) / ADMIN_UPLOADS)
        kwargs.setdefault("file_permissions_mode", 0o600)
        kwargs.setdefault("directory_permissions_mode", 0o700)
        super().__init__(**kwargs)
