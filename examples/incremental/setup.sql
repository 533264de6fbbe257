-- Sample data for examples/incremental: psql -h 127.0.0.1 -U postgres test -f examples/incremental/setup.sql
DROP SCHEMA IF EXISTS sluice_example CASCADE;
CREATE SCHEMA sluice_example;
CREATE TABLE sluice_example.orders (id bigint PRIMARY KEY, amount numeric(12,2), updated_at timestamptz NOT NULL);
CREATE TABLE sluice_example.orders_copy (LIKE sluice_example.orders INCLUDING ALL);
CREATE TABLE sluice_example.watermark (name text PRIMARY KEY, value timestamptz NOT NULL);
INSERT INTO sluice_example.watermark VALUES ('orders', '-infinity');
INSERT INTO sluice_example.orders
  SELECT g, g * 1.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 1000) g;
CREATE TABLE sluice_example.src_customers AS SELECT g AS id, 'customer ' || g AS name FROM generate_series(1, 100) g;
CREATE TABLE sluice_example.src_products AS SELECT g AS id, 'product ' || g AS name FROM generate_series(1, 50) g;
