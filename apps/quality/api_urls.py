from django.urls import path

from apps.quality import api

app_name = "quality_api"
urlpatterns = [
    path("projects/<int:project_id>/quality/", api.ProjectQualityView.as_view(), name="quality"),
    path("projects/<int:project_id>/quality/recompute/", api.ProjectRecomputeView.as_view(), name="recompute"),
    path("projects/<int:project_id>/quality/settings/", api.QualitySettingsView.as_view(), name="settings"),
    path("projects/<int:project_id>/qualification/", api.QualificationView.as_view(), name="qualification"),
    path("projects/<int:project_id>/annotators/", api.AnnotatorListView.as_view(), name="annotators"),
    path("projects/<int:project_id>/annotators/<int:user_id>/suspend/",
         api.AnnotatorActionView.as_view(mode="suspend"), name="annotator-suspend"),
    path("projects/<int:project_id>/annotators/<int:user_id>/reinstate/",
         api.AnnotatorActionView.as_view(mode="reinstate"), name="annotator-reinstate"),
    path("projects/<int:project_id>/review/", api.ReviewQueueView.as_view(), name="review-queue"),
    path("items/<int:item_id>/reviews/", api.ItemReviewView.as_view(), name="item-reviews"),
    path("items/<int:item_id>/aggregate/", api.ItemAggregateView.as_view(), name="item-aggregate"),
    path("items/<int:item_id>/gold/", api.ItemGoldView.as_view(), name="item-gold"),
]
