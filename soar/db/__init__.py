"""The database: where it is and how to connect (`soar.db.urls`, re-exported here),
the embedded cluster, PgBouncer, migrations, pgmq installation, the SQL file loader."""

from soar.db.urls import (
    ROLES,
    admin_url,
    check_role,
    component_url,
    connect,
    external_url,
    redact,
    role_url,
    set_allow_owner,
    set_database_url,
    use_embedded_database,
)

__all__ = ["ROLES", "admin_url", "check_role", "component_url", "connect", "external_url",
           "redact", "role_url", "set_allow_owner", "set_database_url", "use_embedded_database"]
