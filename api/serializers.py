from rest_framework import serializers

from surveys.models import Edition


class EditionSerializer(serializers.ModelSerializer[Edition]):
    series = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    title = serializers.CharField(source="display_title", read_only=True)

    class Meta:
        model = Edition
        fields = ["id", "series", "label", "title", "status", "opens_at", "closes_at"]
        read_only_fields = fields


class EditionImportSerializer(serializers.Serializer[None]):
    file = serializers.FileField(help_text="XLSForm (.xlsx) or questionnaire definition (.json)")
    series = serializers.SlugField(max_length=64, help_text="series slug; created if new")
    label = serializers.CharField(max_length=32, help_text="edition label, e.g. 2017")


class EditionOpenSerializer(serializers.Serializer[None]):
    closes_at = serializers.DateTimeField()
    opens_at = serializers.DateTimeField(required=False, allow_null=True)


class ImportErrorSerializer(serializers.Serializer[None]):
    message = serializers.CharField()
    sheet = serializers.CharField(allow_null=True)
    row = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    element = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True)


class ImportErrorsSerializer(serializers.Serializer[None]):
    errors = ImportErrorSerializer(many=True)


class ResponseSubmitSerializer(serializers.Serializer[None]):
    answers = serializers.DictField(
        child=serializers.JSONField(),
        help_text="item code → choice code, list of choice codes, number or string; absent = unanswered",
    )


class ReceiptSerializer(serializers.Serializer[None]):
    receipt = serializers.CharField()


class AnswerErrorsSerializer(serializers.Serializer[None]):
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class EditionStatsSerializer(serializers.Serializer[None]):
    submitted = serializers.IntegerField(help_text="acknowledged submissions, both paths")
    submitted_with_ballot = serializers.IntegerField(help_text="of which sent with a blind-signed ballot")
    ballots_issued = serializers.IntegerField(help_text="officers holding a ballot (answered or not)")
    released = serializers.IntegerField()
    held = serializers.IntegerField(
        help_text="released submissions the database would not take as responses; see docs/operations.md"
    )
