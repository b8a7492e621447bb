from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        # Auth events come from Django itself, so this is the one justified use of
        # signals (see apps.audit.receivers).
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from apps.audit import receivers

        user_logged_in.connect(receivers.on_user_logged_in, dispatch_uid="audit.auth.login")
        user_logged_out.connect(receivers.on_user_logged_out, dispatch_uid="audit.auth.logout")
        user_login_failed.connect(receivers.on_user_login_failed, dispatch_uid="audit.auth.login_failed")
