"""Database passwords are masked in every shape a user writes a URL, and a URL that will
not work is refused before any connection, without quoting a piece of the password."""

from __future__ import annotations

import tomllib

import pytest

from macroquant.config.settings import PROJECT_ROOT
from macroquant.db.connection import check_database_url, mask_password, url_problem
from macroquant.errors import DatabaseUnavailableError
from macroquant.security.masking import mask_text

PW = "S3cretPw"


@pytest.mark.parametrize(("text", "masked"), [
    ("postgresql://trader:S3cretPw@host/db", "postgresql://trader:***@host/db"),
    ("postgres//trader:S3cretPw@host", "postgres//trader:***@host"),
    ('missing "=" after "postgres//trader:S3cretPw@host" in connection info string',
     'missing "=" after "postgres//trader:***@host" in connection info string'),
    ("postgresq://trader:S3cretPw@host:5432/db", "postgresq://trader:***@host:5432/db"),
    ("postgresql://trader:S3cretPw@ss@127.0.0.1:5432/db",   # '@' inside the password
     "postgresql://trader:***@127.0.0.1:5432/db"),
    ("postgresql://trader:S3cretPw:x/y@h/db", "postgresql://trader:***@h/db"),  # ':' and '/'
    ("postgresql://trader:S3cretPw%40%2F@h/db?sslmode=require",
     "postgresql://trader:***@h/db?sslmode=require"),
    ("postgresql://trader:S3cretPw@[::1]:5432/db", "postgresql://trader:***@[::1]:5432/db"),
    ("see postgresql://a:S3cretPw@h, then", "see postgresql://a:***@h, then"),
    ("trader:S3cretPw@host", "trader:***@host"),
    ("host=h password=S3cretPw dbname=d", "host=h password=*** dbname=d"),
    ("host=h password='S3cret Pw' dbname=d", "host=h password=*** dbname=d"),
])
def test_passwords_are_masked_whole(text: str, masked: str):
    assert mask_password(text) == masked
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "postgresql://trader@host/db", "postgresql:///db?host=/tmp/pg", "postgresql://u:@h/db",
    "at 10:30 we met foo@bar.com", "line 3: a@b", "http://example.org/a@b",
])
def test_text_without_a_password_is_left_alone(text: str):
    assert mask_password(text) == text


@pytest.mark.parametrize(("url", "problem"), [
    (f"postgres//trader:{PW}@host", "it does not start with postgresql://"),
    (f"postgresq://trader:{PW}@host/db", "unknown scheme 'postgresq://'"),
    (f"postgresql://trader:{PW}@x@127.0.0.1/db", "must be percent-encoded"),
    (f"postgresql://trader:{PW}/x@127.0.0.1/db", "must be percent-encoded"),
    (f"postgresql://trader:{PW}@127.0.0.1:pg/db", "its host or port cannot be read"),
    (f"postgresql://trader:{PW}@/db", "it names no host"),
    (f"postgresql://trader:{PW} @h/db", "it contains white space"),
])
def test_bad_urls_are_refused_naming_the_variable_without_the_password(url: str, problem: str):
    assert problem in url_problem(url)
    with pytest.raises(DatabaseUnavailableError) as caught:
        check_database_url(url)
    message = str(caught.value)
    assert message.startswith("MACROQUANT_DATABASE_URL is not a valid PostgreSQL URL (")
    assert PW not in message and "\n" not in message


@pytest.mark.parametrize("url", [
    f"postgresql://trader:{PW}%40x@127.0.0.1:5432/db", "postgresql:///db?host=/tmp/pg",
    "host=/tmp/pg dbname=mq user=postgres", "postgres://u@h/db",
])
def test_good_urls_pass(url: str):
    assert url_problem(url) is None


def test_the_license_is_an_spdx_string_so_setuptools_prints_no_deprecation():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert project["build-system"]["requires"] == ["setuptools>=77"]
