"""Postgres through psycopg 3, from the DATABASE_URL docker-entrypoint.sh builds."""

import os

import psycopg


def connect() -> psycopg.Connection:
    return psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
