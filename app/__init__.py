"""fedbridge: identity federation bridge speaking the AWS IAM/STS wire protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings
    from app.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Create and configure the Flask application: the composition root.

    `settings` defaults to the FEDBRIDGE_* environment. A `runtime` already
    started (the CLI's, a test's) may be passed in so the database is opened once.
    """
    # Imported here so `import app.errors` (and the CLI's --help) stay cheap.
    from flask import Flask
    from werkzeug.wrappers import Response

    from app.api.registry import load_actions
    from app.api.views import QueryEndpoint
    from app.api.views import not_here
    from app.config import Settings
    from app.observability import Observed
    from app.observability import init_observability
    from app.runtime import Runtime
    from app.web import init_web

    settings = settings or Settings.from_env()
    runtime = runtime or Runtime.start(settings)
    load_actions()
    app = Flask(__name__)  # the pages; the Query endpoint is answered in front of it
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.extensions["fedbridge"] = runtime
    init_web(app, runtime)
    init_observability(app)
    app.wsgi_app = Observed(QueryEndpoint(runtime, app.wsgi_app))  # type: ignore[method-assign]

    if settings.trusted_proxies:
        from app.proxies import trust_forwarded_for

        app.wsgi_app = trust_forwarded_for(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign,assignment]

    @app.errorhandler(404)
    @app.errorhandler(405)
    def _not_here(error: Exception) -> Response:
        return not_here(getattr(error, "code", 404))

    return app
