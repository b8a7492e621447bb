from django.urls import path  # noqa: F401

app_name = "items_api"
urlpatterns: list = []
