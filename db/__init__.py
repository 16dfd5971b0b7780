"""Database access: connection pool, embedded server, migrations, tenancy."""

from db.pool import Caller, Database

__all__ = ["Caller", "Database"]
