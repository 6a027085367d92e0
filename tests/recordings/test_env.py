"""The shared environment-variable names and :func:`hotline12345.env.redact_url`."""

from __future__ import annotations

import pytest

from hotline12345 import env
from hotline12345.env import redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://app:s3cret@db:6379/0", "redis://app:***@db:6379/0"),
    ("redis://:s3cret@db:6379/0", "redis://:***@db:6379/0"),
    ("postgresql+psycopg://u:p%40ss@pg/hotline", "postgresql+psycopg://u:***@pg/hotline"),
    ("postgresql://u:p@ss@pg/hotline", "postgresql://u:***@pg/hotline"),  # unescaped @
    ("redis://:pa/ss@db:6379/0", "redis://:***@db:6379/0"),  # unescaped /
    ("redis://app@db:6379", "redis://app@db:6379"),  # a user, no password
    ("redis://db:6379/0", "redis://db:6379/0"),
    ("sqlite:////var/lib/hotline12345/a@b.sqlite3", "sqlite:////var/lib/hotline12345/a@b.sqlite3"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ("not a url", "not a url"),
])
def test_redact_url_hides_passwords_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_settings_read_the_shared_names(tmp_path: object) -> None:
    from hotline12345.recordings.settings import settings_from

    settings = settings_from(env={env.DATABASE_URL_ENV: "sqlite:////tmp/x.sqlite3",
                                  env.RECORDINGS_DIR_ENV: "/srv/rec",
                                  env.REDIS_URL_ENV: "redis://:pw@r:6379/1",
                                  env.VOSK_MODEL_ENV: "/models/cn"}, data_dir=str(tmp_path))
    assert settings.database_url == "sqlite:////tmp/x.sqlite3"
    assert str(settings.recordings_dir) == "/srv/rec"
    assert settings.redacted_redis() == "redis://:***@r:6379/1"
    assert settings.model_path == "/models/cn"
