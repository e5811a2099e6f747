-- Undo 160_worker_statement_timeout.sql.
ALTER ROLE soar_worker RESET statement_timeout;
