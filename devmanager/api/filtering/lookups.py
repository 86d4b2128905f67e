"""Lookups whose SQL differs between the two databases."""

import json

from django.db import NotSupportedError
from django.db.models import BooleanField, CharField, F, Func, Lookup, TextField
from django.db.models.lookups import Contains


@CharField.register_lookup
@TextField.register_lookup
class StrictContains(Lookup):
    """Case-sensitive substring match. Django's `contains` is LIKE, which SQLite compares ignoring ASCII case."""

    lookup_name = "strict_contains"

    def as_sql(self, compiler, connection):
        return Contains(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"instr({lhs}, {rhs}) > 0", [*lhs_params, *rhs_params]


class JsonArrayHas(Func):
    """A JSON array column has an element equal to a string: `@>` on PostgreSQL (GIN-indexable), `json_each` on
    SQLite."""

    output_field = BooleanField()

    def __init__(self, column: str, value: str):
        super().__init__(F(column))
        self.value = value

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"array filters are not available on {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return f"({column} @> %s::jsonb)", [*params, json.dumps([self.value])]

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = %s)", [*params, self.value]
