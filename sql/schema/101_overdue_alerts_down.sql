-- Revision 0010 undone: the view, then the table (its grants go with it).
DROP VIEW IF EXISTS overdue_flights;
DROP TABLE IF EXISTS overdue_alerts;
