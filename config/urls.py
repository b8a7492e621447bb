from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core import views as core_views

api_v1 = [
    path("", include("apps.accounts.api_urls")),
    path("", include("apps.projects.api_urls")),
    path("", include("apps.items.api_urls")),
    path("", include("apps.annotations.api_urls")),
    path("", include("apps.sampling.api_urls")),
    path("", include("apps.quality.api_urls")),
    path("", include("apps.exports.api_urls")),
    path("", include("apps.audit.api_urls")),
    path("", include("apps.privacy.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("", core_views.home, name="home"),
    path("api/v1/", include(api_v1)),
    path("", include("apps.accounts.urls")),  # /accounts/, /join/, /projects/<id>/members/, /organizations/<id>/members/
    path("projects/", include("apps.projects.urls")),
    path("", include("apps.items.urls")),
    path("", include("apps.annotations.urls")),
    path("", include("apps.sampling.urls")),
    path("", include("apps.quality.urls")),
    path("", include("apps.exports.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.privacy.urls")),
]

handler404 = "apps.core.views.not_found"
handler403 = "apps.core.views.forbidden"
