from django.urls import path

from apps.items import api

app_name = "items_api"
urlpatterns = [
    path("projects/<int:project_id>/imports/", api.ProjectImportsView.as_view(), name="imports"),
    path("imports/<int:job_id>/", api.ImportDetailView.as_view(), name="import"),
    path("imports/<int:job_id>/cancel/", api.ImportCancelView.as_view(), name="import_cancel"),
    path("imports/<int:job_id>/errors/", api.ImportErrorsView.as_view(), name="import_errors"),
    path("projects/<int:project_id>/items/", api.ProjectItemsView.as_view(), name="items"),
    path("projects/<int:project_id>/items/delete/", api.ProjectItemsDeleteView.as_view(), name="items_delete"),
    path("projects/<int:project_id>/items/<int:item_id>/", api.ProjectItemView.as_view(), name="project_item"),
    path("items/<int:item_id>/", api.ItemDetailView.as_view(), name="item"),
]
