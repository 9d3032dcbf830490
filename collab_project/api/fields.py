"""Serializer fields shared by the apps' input serializers."""
import math
import re

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


class StrictStringMixin:
    """Refuses numbers and booleans where text is expected, instead of DRF's str() coercion."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StrictStringMixin, serializers.CharField):
    pass


class StrictRegexField(StrictStringMixin, serializers.RegexField):
    pass


MAX_JSON_DEPTH = 32


# PostgreSQL's jsonb refuses NUL and lone surrogates (a 500 at insert time).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable_text(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def _storable(value) -> bool:
    """True when the JSON value stores on every backend and nests at most MAX_JSON_DEPTH deep."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(item, str):
            if not _storable_text(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            if not all(_storable_text(str(k)) for k in item):
                return False
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


class JSONObjectField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        if not _storable(value):
            raise serializers.ValidationError("Must not nest deeper than 32 or contain NUL characters, lone surrogates or non-finite numbers.")
        return value
