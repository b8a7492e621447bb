from django.urls import path

from apps.quality import views

app_name = "quality"
urlpatterns = [
    path("projects/<int:project_id>/quality/", views.dashboard, name="dashboard"),
    path("projects/<int:project_id>/quality/status/", views.dashboard_status, name="status"),
    path("projects/<int:project_id>/quality/recompute/", views.recompute, name="recompute"),
    path("projects/<int:project_id>/quality/settings/", views.settings_save, name="settings"),
    path("projects/<int:project_id>/quality/annotators/", views.annotators, name="annotators"),
    path("projects/<int:project_id>/quality/annotators/<int:user_id>/suspend/", views.annotator_action,
         {"mode": "suspend"}, name="suspend"),
    path("projects/<int:project_id>/quality/annotators/<int:user_id>/reinstate/", views.annotator_action,
         {"mode": "reinstate"}, name="reinstate"),
    path("projects/<int:project_id>/quality/notices/acknowledge/", views.notices_acknowledge, name="notices_ack"),
    path("projects/<int:project_id>/quality/gold/", views.gold_list, name="gold"),
    path("projects/<int:project_id>/review/", views.review_queue, name="review"),
    path("projects/<int:project_id>/review/items/<int:item_id>/", views.review_item, name="review_item"),
    path("projects/<int:project_id>/review/items/<int:item_id>/gold/", views.item_gold, name="item_gold"),
]
