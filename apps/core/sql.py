"""Model instances from one hand-written SQL row, for the hottest request paths.

On the annotator's next → submit loop the ORM spent more time compiling small queries
with subqueries than PostgreSQL spent running them. `fetch_models` runs one statement
whose SELECT list is `columns(alias, Model)` for each model in turn (plus any extra
columns after them) and builds the instances with `Model.from_db`, exactly as a
queryset would; `select_related`-style links are set by the caller.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def columns(alias: str, model: type[models.Model]) -> str:
    """`alias.col1, alias.col2, …` for every concrete field of `model`, in field order."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def fetch_models(sql: str, params: Any, *model_classes: type[models.Model]) -> tuple[Any, ...] | None:
    """The first row of `sql` as instances of `model_classes` followed by any extra columns
    (raw values), or None when there is no row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    built: list[Any] = []
    offset = 0
    for model in model_classes:
        fields = model._meta.concrete_fields
        values = row[offset:offset + len(fields)]
        converted = []
        for field, value in zip(fields, values, strict=True):
            # from_db_value (JSONField's json.loads, …) as the ORM's compiler would apply it.
            if hasattr(field, "from_db_value"):
                value = field.from_db_value(value, None, connection)
            converted.append(value)
        built.append(model.from_db(connection.alias, [f.attname for f in fields], converted))
        offset += len(fields)
    return (*built, *row[offset:])
