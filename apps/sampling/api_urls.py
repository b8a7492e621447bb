from django.urls import path  # noqa: F401

app_name = "sampling_api"
urlpatterns: list = []
