"""The app as gunicorn serves it, each answer naming the process that made it (`X-Served-By`): for the tests that
need to reach two app server processes in turn."""

import os

from devmanager.wsgi import application as app


def application(environ, start_response):
    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Served-By", str(os.getpid()))], exc_info)

    return app(environ, start)
