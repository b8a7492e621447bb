from django import template
from django.utils.safestring import SafeString, mark_safe

from apps.core.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(value: str | None) -> SafeString:
    """Render untrusted markdown, sanitised (see apps.core.rendering)."""
    return mark_safe(str(render_markdown(value)))  # noqa: S308 (nh3-sanitised)
