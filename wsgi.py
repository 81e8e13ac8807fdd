"""The WSGI entry point: gunicorn wsgi:app, flask --app wsgi."""

import gc

from portal import create_app

app = create_app()
# What start-up built (the app, its routes, templates, mappers, catalogs) lives as long as
# the process: out of the garbage collector's full passes, which otherwise walked all of
# it again every few requests (a third of the queue page's CPU time).
gc.collect()
gc.freeze()
