"""`field__literal_in=[...]`: an IN whose values are written into the SQL, not bound.

SQLite uses a partial index only when the query's WHERE repeats the index's condition with the
same constants; a bound parameter (`status IN (?, ?)`) never matches, so the scheduler's looks at
the few open operations, owed mails or live task rows fell back to an index over every status
(which the planner, seeing one status in a million rows, refuses) or to a scan. With the values
inline the statement says what the index says. Only for fixed code-level values (statuses,
stages): anything that is not a plain identifier is refused.
"""

from __future__ import annotations

import re

from django.db.models import CharField, TextField
from django.db.models.lookups import In

_PLAIN = re.compile(r"^[A-Za-z0-9_]+$")


class LiteralIn(In):
    lookup_name = "literal_in"

    def process_rhs(self, compiler, connection):
        values = [str(getattr(v, "value", v)) for v in self.rhs]
        if not values or not all(_PLAIN.match(v) for v in values):
            raise ValueError(f"literal_in takes plain identifiers only, not {values!r}")
        # As Django writes an index condition (`Q(status__in=[...])`): same order, same quoting.
        return "(" + ", ".join(f"'{v}'" for v in values) + ")", ()


CharField.register_lookup(LiteralIn)
TextField.register_lookup(LiteralIn)
