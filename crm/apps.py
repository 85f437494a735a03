from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Unions and contacts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from crm import checks  # noqa: F401 - registers the checks
        from crm.middleware import session_limits_start

        user_logged_in.connect(session_limits_start, dispatch_uid="crm.session_limits_start")
