"""Lookups whose SQL differs between the two databases."""

import json

from django.db import NotSupportedError
from django.db.models import BooleanField, CharField, F, Func, Lookup, TextField
from django.db.models.lookups import Contains

# PostgreSQL folds case by its ICU root collation, whatever the database's own locale (a `C` database would fold
# ASCII only); SQLite calls Python's str.lower, the same Unicode mapping, registered on each connection.
ICU_ROOT_COLLATION = "und-x-icu"
SQLITE_FOLD_FUNCTION = "devmanager_fold"


def fold(text: str) -> str:
    """Case folding for `_ic` filters: Unicode's full lower-case mapping (`Ärger` -> `ärger`, `ΣΟΦΟΣ` -> `σοφος`)."""
    return text.lower()


class Fold(Func):
    """An expression's text folded as `fold` does, on either database."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"case folding is not available on {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f'LOWER(({sql})::text COLLATE "{ICU_ROOT_COLLATION}")', params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{SQLITE_FOLD_FUNCTION}({sql})", params


def register_sqlite_fold(sender, connection, **kwargs):
    """`connection_created` receiver: give each SQLite connection the case folding of `fold`."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            SQLITE_FOLD_FUNCTION, 1, lambda text: None if text is None else fold(text), deterministic=True
        )


class FoldedLookup(Lookup):
    """A comparison (a template per database) of the folded column with the folded value."""

    prepare_rhs = False
    postgresql_template = sqlite_template = "{lhs} = {rhs}"

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"case folding is not available on {connection.vendor}")

    def as_postgresql(self, compiler, connection):
        folded = 'LOWER({} COLLATE "' + ICU_ROOT_COLLATION + '")'
        return self._compiled(compiler, connection, self.postgresql_template, folded)

    def as_sqlite(self, compiler, connection):
        return self._compiled(compiler, connection, self.sqlite_template, SQLITE_FOLD_FUNCTION + "({})")

    def _compiled(self, compiler, connection, template: str, folded_value: str):
        lhs, lhs_params = compiler.compile(Fold(self.lhs))
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return template.format(lhs=lhs, rhs=folded_value.format(rhs)), [*lhs_params, *rhs_params]


@CharField.register_lookup
@TextField.register_lookup
class FoldExact(FoldedLookup):
    """Equal ignoring case (`_ic` filters)."""

    lookup_name = "fold_exact"


@CharField.register_lookup
@TextField.register_lookup
class FoldContains(FoldedLookup):
    """Contains ignoring case (`_ic` filters, the admin's alias search); `%` and `_` are literal. On PostgreSQL a
    LIKE, which the trigram index on the folded alias serves (devices migration 0010)."""

    lookup_name = "fold_contains"
    postgresql_template = "{lhs} LIKE {rhs}"
    sqlite_template = "instr({lhs}, {rhs}) > 0"

    def get_db_prep_lookup(self, value, connection):
        if connection.vendor == "postgresql":
            return "%s", [f"%{connection.ops.prep_for_like_query(value)}%"]
        return "%s", [value]


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
