"""Serializer fields shared by the apps' input serializers."""
import math

from rest_framework import serializers

DB_INT_MAX = 2**31 - 1


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer that refuses booleans and is bounded to what the database stores."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", DB_INT_MAX)
        kwargs.setdefault("min_value", -DB_INT_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class JSONObjectField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value
