"""The service's tables, one module per capability, on the indexer's declarative base (one
schema, one database: every row that names a talent references ``talents.id`` with ON DELETE
CASCADE, so erasing a talent removes every trace in the same transaction).

Importing any of them registers them all, so the metadata is always the whole schema.
"""

from service.core.tables import (  # noqa: F401
    access,
    alerts,
    idempotency,
    jobs,
    licensing,
    scanning,
    takedowns,
    watches,
)
