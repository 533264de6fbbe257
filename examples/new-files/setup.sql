-- The table examples/new-files loads into: psql -h 127.0.0.1 -U postgres test -f examples/new-files/setup.sql
DROP SCHEMA IF EXISTS sluice_new_files CASCADE;
CREATE SCHEMA sluice_new_files;
CREATE TABLE sluice_new_files.orders_in (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2));
