"""Configuration: database URLs, the secret key and environment settings."""

import gc
import runpy
from pathlib import Path

from app import create_app
from app.config import database_uri, instance_secret_key, read_environment


def test_default_database_is_sqlite_in_instance(tmp_path):
    assert database_uri(None, tmp_path) == f"sqlite:///{tmp_path / 'auditlog.db'}"


def test_postgres_urls_use_psycopg3():
    assert database_uri("postgres://u:p@h/db", "") == "postgresql+psycopg://u:p@h/db"
    assert database_uri("postgresql://u:p@h/db", "") == "postgresql+psycopg://u:p@h/db"


def test_secret_key_is_generated_once_and_reused(tmp_path):
    first = instance_secret_key(tmp_path)
    assert len(first) == 64
    assert instance_secret_key(tmp_path) == first
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_environment_settings_are_parsed():
    found = read_environment(
        {"SESSION_COOKIE_SECURE": "true", "MAX_CONTENT_LENGTH": "2048", "SECRET_KEY": ""}
    )
    assert found == {"SESSION_COOKIE_SECURE": True, "MAX_CONTENT_LENGTH": 2048}


def test_app_without_secret_key_uses_the_instance_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    key_file = Path(app.instance_path) / "secret_key"
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()


def test_gunicorn_workers_keep_what_they_loaded_out_of_garbage_collection():
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    try:
        settings["post_worker_init"](None)  # gunicorn calls it once the app is loaded
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
