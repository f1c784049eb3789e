from django.db import migrations


def refresh_every_coded_item(apps, schema_editor):
    """Existing codes get their final codes kept, as every write keeps them.

    Live code, not the historical models: the refresh is one SQL text that reads every coding table, so
    this must stay after the latest migration creating a table it reads (a new one goes before it, or the
    refresh moves to the newest migration). tests/coding/test_migrations.py upgrades a database with codes
    from before 0004 and fails otherwise."""
    from coding.finals import final_codes_refresh

    Codebook = apps.get_model("coding", "Codebook")
    Item = apps.get_model("surveys", "Item")
    for edition_id, item_code in Codebook.objects.values_list("edition_id", "item_code"):
        for item_id in Item.objects.filter(edition_id=edition_id, code=item_code).values_list("id", flat=True):
            final_codes_refresh(item_id=item_id)


class Migration(migrations.Migration):
    dependencies = [
        ("coding", "0006_auto_fill"),
    ]

    operations = [
        migrations.RunPython(refresh_every_coded_item, migrations.RunPython.noop),
    ]
