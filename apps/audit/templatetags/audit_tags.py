import json

from django import template

register = template.Library()


@register.filter
def compact_json(value: object) -> str:
    """A detail dict as one line of JSON (auto-escaped by the template like any string)."""
    if not value:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)
