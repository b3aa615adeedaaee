"""Load a realistic workload into a sandbox cluster: three databases, several schemas, some
tables bloated with dead tuples (updates and deletes that autovacuum has not caught up with),
some clean and freshly analyzed. Recreated from scratch on every run.

    python scripts/demo_workload.py --socket .sandbox/pg/run --port 54329
"""

from __future__ import annotations

import argparse
import sys
import time

import psycopg
from psycopg import sql

# database -> list of (schema, table, rows, churn); churn is the SQL that makes dead tuples
# ('' for a clean table). Names include the awkward kinds real schemas have.
WORKLOAD = {
    'shop': [
        ('public', 'orders', 200_000, "UPDATE {t} SET status = 'shipped' WHERE id % 5 < 2"),
        ('sales', 'invoices', 120_000, 'DELETE FROM {t} WHERE id % 10 < 3'),
        ('public', 'countries', 250, ''),
        ('public', 'customers', 50_000, ''),
        ('sales', 'Audit Log', 30_000, 'DELETE FROM {t} WHERE id % 2 = 0'),
    ],
    'analytics': [
        ('events', 'page_views', 300_000, 'DELETE FROM {t} WHERE id % 4 = 0'),
        ('public', 'daily_rollup', 5_000, ''),
        ('public', 'reports', 2_000, 'UPDATE {t} SET status = status WHERE id % 100 = 0'),
    ],
    'auth': [
        ('public', 'users', 20_000, ''),
        ('public', 'sessions', 80_000, 'DELETE FROM {t} WHERE id % 3 <> 0'),
    ],
}


def flush_statistics(conn) -> None:
    """Publish this session's pending statistics now (PostgreSQL 15+ has a function for it)."""
    if conn.info.server_version >= 150000:
        conn.execute('SELECT pg_stat_force_next_flush()')
        conn.execute('SELECT 1')  # the flush happens when the session goes idle after a statement
    else:
        time.sleep(1.1)  # older servers flush at most once a second


def load(socket_dir: str, port: int) -> None:
    admin = psycopg.connect(host=socket_dir, port=port, user='postgres', dbname='postgres', autocommit=True)
    for database in WORKLOAD:
        admin.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(database)))
        admin.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(database)))
    admin.close()
    for database, tables in WORKLOAD.items():
        with psycopg.connect(host=socket_dir, port=port, user='postgres', dbname=database, autocommit=True) as conn:
            for schema, table, rows, churn in tables:
                target = sql.Identifier(schema, table)
                conn.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(schema)))
                conn.execute(sql.SQL(
                    'CREATE TABLE {} (id bigint PRIMARY KEY, status text NOT NULL, '
                    'payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())').format(target))
                conn.execute(sql.SQL(
                    "INSERT INTO {} (id, status, payload) SELECT g, 'new', md5(g::text) || md5((g * 7)::text) "
                    'FROM generate_series(1, %s) AS g').format(target), (rows,))
                # Autovacuum would have analyzed these by now: clean tables start up to date.
                # The insert's statistics must reach the server before ANALYZE resets them.
                flush_statistics(conn)
                conn.execute(sql.SQL('VACUUM ANALYZE {}').format(target))
                if churn:
                    conn.execute(sql.SQL(churn).format(t=target))
    # Each backend flushes its statistics when it exits; give the server a moment to publish.
    time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--socket', required=True)
    parser.add_argument('--port', type=int, default=54329)
    args = parser.parse_args()
    began = time.monotonic()
    try:
        load(args.socket, args.port)
    except psycopg.Error as exc:
        print(f'workload: {exc}', file=sys.stderr)
        return 1
    tables = sum(len(t) for t in WORKLOAD.values())
    bloated = sum(1 for t in WORKLOAD.values() for row in t if row[3])
    print(f'workload loaded: {len(WORKLOAD)} databases, {tables} tables ({bloated} with dead tuples, '
          f'{tables - bloated} clean) in {time.monotonic() - began:.1f}s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
