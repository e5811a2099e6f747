-- Who a component logged in as (soar/db/urls.py check_role).

-- name: login
-- The connected login: its name, whether it is a superuser, whether it has the
-- privileges of the tables' owner (the role that ran the migrations; to_regclass gives
-- NULL on an unmigrated database, then false), and whether it has the privileges of
-- the component's role (soar_ingest, soar_worker), directly or as a member; last,
-- whether the database is migrated (the schema and the role exist).
SELECT current_user, r.rolsuper,
       COALESCE((SELECT pg_has_role(current_user, c.relowner, 'USAGE')
                   FROM pg_class c WHERE c.oid = to_regclass('flights')), false),
       EXISTS (SELECT 1 FROM pg_roles m
                WHERE m.rolname = %(role)s AND pg_has_role(current_user, m.oid, 'USAGE')),
       to_regclass('flights') IS NOT NULL
           AND EXISTS (SELECT 1 FROM pg_roles m WHERE m.rolname = %(role)s)
FROM pg_roles r WHERE r.rolname = current_user
