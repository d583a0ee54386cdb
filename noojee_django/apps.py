from django.apps import AppConfig


class NoojeeConfig(AppConfig):
    name = "noojee_django"
    verbose_name = "Noojee PBX"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            tasks,  # noqa: F401  (registers the tasks the services send by name)
        )
