from django.apps import AppConfig


class SamplingConfig(AppConfig):
    name = "apps.sampling"
    label = "sampling"
