"""gunicorn settings for `scripts/production`; each can be overridden from the environment."""

import multiprocessing
import os

bind = os.environ.get("DEVMANAGER_BIND", "0.0.0.0:8000")
# Requests spend much of their time waiting on PostgreSQL: a few processes per core, each with a few threads,
# keep the cores busy. Every thread holds its own database connection (workers x threads per server).
workers = int(os.environ.get("DEVMANAGER_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("DEVMANAGER_THREADS", 4))
worker_class = "gthread"
timeout = int(os.environ.get("DEVMANAGER_REQUEST_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Restart workers now and then, staggered, so a slow leak never grows without bound.
max_requests = 20000
max_requests_jitter = 2000
# Request lines of any length reach the app, which answers those over DEVMANAGER_MAX_URL_BYTES with 414 in the
# contract's error body: gunicorn's own limit (at most 8190 bytes) would answer in HTML before the app sees them.
# 0 means no limit to gunicorn; its C parser (gunicorn-h1c) still stops at 1 MiB, so memory stays bounded.
limit_request_line = 0
http_parser = "fast"
# devmanager.access logs every request with its request ID; gunicorn's own access log would repeat it.
accesslog = None
errorlog = "-"
# No control socket (gunicornc): its default path is one per user, so the servers of one machine (a topology's two
# app servers, the tests') would take it from each other; signals and restarts manage the server instead.
control_socket_disable = True
# X-Forwarded-Proto is judged by the app (DEVMANAGER_TRUSTED_PROXIES), not by gunicorn.
forwarded_allow_ips = os.environ.get("DEVMANAGER_TRUSTED_PROXIES", "127.0.0.1,::1")


def child_exit(server, worker):
    # Prometheus counts live in files per process (PROMETHEUS_MULTIPROC_DIR); a dead worker's gauges go.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
