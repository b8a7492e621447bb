"""Item content hashes lead with the prompt id and compare as bytes; items drop the row-by-row project check.

Bulk inserts of items (sampling plans, imports) then touch the (project, content_hash)
unique index where the batch's prompts are, rather than random pages all over it.
Existing items get their hash rewritten to the new form (apps.items.building.
item_content_hash), so re-running an older plan or import still finds them.
"""

import django.db.models.deletion
from django.db import migrations, models

REHASH = """
UPDATE items_item i
SET content_hash = lpad(to_hex(i.prompt_id), 16, '0')
    || left(encode(sha256(convert_to('item' || chr(31) || i.prompt_id::text || chr(31) || l.ids, 'UTF8')), 'hex'), 48)
FROM (
    SELECT item_id, string_agg(generation_id::text, ',' ORDER BY position) AS ids
    FROM items_itemgeneration GROUP BY item_id
) l
WHERE l.item_id = i.id
"""


class Migration(migrations.Migration):

    dependencies = [
        ("items", "0006_import_items_after_id"),
        ("projects", "0002_project_deletion_requested_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="item",
            name="content_hash",
            field=models.CharField(db_collation="C", max_length=64),
        ),
        migrations.AlterField(
            model_name="item",
            name="project",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="items",
                to="projects.project",
            ),
        ),
        # Not reversible in a meaningful way: the old hash cannot be recovered, and the new
        # one identifies the same item, so going back leaves the rows as they are.
        migrations.RunSQL(REHASH, migrations.RunSQL.noop),
    ]
