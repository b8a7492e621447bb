from django.urls import path

from apps.items import views

app_name = "items"
urlpatterns = [
    path("projects/<int:project_id>/items/", views.item_browser, name="browser"),
    path("projects/<int:project_id>/items/delete/", views.items_delete, name="items_delete"),
    path("items/<int:item_id>/", views.item_detail, name="item_detail"),
    path("items/<int:item_id>/delete/", views.item_delete, name="item_delete"),
    path("items/<int:item_id>/gold/", views.item_gold, name="item_gold"),
    path("projects/<int:project_id>/imports/new/", views.imports_new, name="imports_new"),
    path("projects/<int:project_id>/uploads/<int:upload_id>/mapping/", views.upload_mapping, name="upload_mapping"),
    path("projects/<int:project_id>/uploads/<int:upload_id>/preview/", views.upload_preview_partial,
         name="upload_preview"),
    path("imports/<int:job_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:job_id>/cancel/", views.import_cancel, name="import_cancel"),
    path("imports/<int:job_id>/errors/", views.import_errors_download, name="import_errors"),
]
