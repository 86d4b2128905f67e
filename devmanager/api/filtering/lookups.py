"""Lookups whose SQL differs between the two databases."""

from django.db.models import CharField, Lookup, TextField
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
