DROP TABLE connect_sessions;
