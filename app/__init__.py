"""The application factory: configuration, extensions, blueprints, commands, error handlers."""

from flask import Flask

from app import config
from app.extensions import csrf, db, limiter, login_manager, migrate


def create_app(test_config=None):
    """Create and configure an instance of the audit log service."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    configure(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_commands(app)
    register_request_hooks(app)
    return app


def configure(app, test_config):
    """Defaults, then ``instance/config.py``, then the environment, then ``test_config``."""
    app.config.from_object(config.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config.read_environment())
    if test_config is not None:
        app.config.update(test_config)
    app.config.setdefault(
        "SQLALCHEMY_DATABASE_URI",
        config.database_uri(app.config.get("DATABASE_URL"), app.instance_path),
    )
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Check pooled connections before use: a restarted server leaves dead ones behind.
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.instance_secret_key(app.instance_path)


def register_extensions(app):
    """Bind the extensions to this app."""
    from app import database, models  # noqa: F401  (every table known to Alembic)
    from app.ledger.search import include_name
    from app.web.htmx import send_to_sign_in

    db.init_app(app)
    database.configure_engine(app)
    # include_name: autogenerate leaves alone the full-text objects made by hand.
    migrate.init_app(
        app, db, directory=str(app.root_path + "/../migrations"), include_name=include_name
    )
    csrf.init_app(app)
    limiter.init_app(app)
    skip_limiter_check_for(app, {"api", "health"})
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.unauthorized_handler(send_to_sign_in)


def skip_limiter_check_for(app, blueprints):
    """Keep Flask-Limiter's per-request check off blueprints it has nothing to limit.

    Flask-Limiter only throttles sign-ins here (the API counts per key itself, in
    app/api/auth.py), yet its before-request check costs a measurable share of every
    API request. Exempting the blueprints still runs it, so wrap it instead.
    """
    from flask import request

    hooks = app.before_request_funcs[None]
    check = next(
        f for f in hooks if getattr(f, "__func__", None) is type(limiter)._check_request_limit
    )

    def check_unless_skipped():
        if request.blueprint not in blueprints:
            return check()
        return None

    hooks[hooks.index(check)] = check_unless_skipped


def register_blueprints(app):
    """Each feature brings its own blueprint."""
    from app.api import bp as api_bp
    from app.auth.views import bp as auth_bp
    from app.events.views import bp as events_bp
    from app.exports.views import bp as exports_bp
    from app.integrity.views import bp as integrity_bp
    from app.keys.views import bp as keys_bp
    from app.orgs.views import bp as orgs_bp
    from app.portal.views import bp as portal_bp
    from app.retention.views import bp as retention_bp
    from app.schemas.views import bp as schemas_bp
    from app.streams.views import bp as streams_bp
    from app.web.health import bp as health_bp

    csrf.exempt(api_bp)
    # The API counts requests per key itself (app/api/auth.py); health checks are free.
    limiter.exempt(api_bp)
    limiter.exempt(health_bp)
    for blueprint in (
        health_bp,
        auth_bp,
        orgs_bp,
        keys_bp,
        events_bp,
        schemas_bp,
        exports_bp,
        integrity_bp,
        retention_bp,
        streams_bp,
        portal_bp,
        api_bp,
    ):
        app.register_blueprint(blueprint)


def register_commands(app):
    """Each feature brings its own ``flask`` commands."""
    from app.auth.cli import users_cli
    from app.demo.cli import demo_cli
    from app.exports.cli import exports_cli
    from app.ingest.cli import events_cli
    from app.integrity.cli import audit_cli
    from app.keys.cli import keys_cli
    from app.orgs.cli import orgs_cli
    from app.portal.cli import portal_cli
    from app.retention.cli import retention_cli
    from app.streams.cli import streams_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(orgs_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(events_cli)
    app.cli.add_command(exports_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(retention_cli)
    app.cli.add_command(streams_cli)
    app.cli.add_command(portal_cli)


def register_request_hooks(app):
    """Error pages, security headers, the layout's context and the first-run redirect."""
    from app.accounts.services import load_user
    from app.exports import worker as export_worker
    from app.integrity.services import VerificationQueue
    from app.jobs import runner
    from app.maintenance import scheduler
    from app.orgs import layout
    from app.portal.views import confine
    from app.streams import delivery as streams
    from app.web.errors import register_error_handlers
    from app.web.headers import add_security_headers
    from app.web.sessions import DashboardSessionInterface

    app.session_interface = DashboardSessionInterface()
    register_error_handlers(app)
    app.after_request(add_security_headers)
    app.before_request(layout.require_setup)
    app.before_request(confine)  # a portal session reaches its own pages only
    app.context_processor(layout.layout_context)
    login_manager.user_loader(load_user)
    # One job runner per process: exports and the daily job as configured, and
    # verification runs always (they are asked for in this process's dashboard).
    runner.init_app(
        app,
        [
            export_worker.queue_for(app),
            scheduler.queue_for(app),
            VerificationQueue(),
            streams.queue_for(app),
        ],
    )
