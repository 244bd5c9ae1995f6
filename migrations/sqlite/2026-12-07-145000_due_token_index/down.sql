DROP INDEX connections_due;
