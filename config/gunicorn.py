"""gunicorn settings for the API, read from the installed package:
``gunicorn -c python:config.gunicorn 'partner_api.app:create_app()'``.

Threads, not processes, carry concurrency inside a worker (uploads mostly
wait on the network and the database); several worker processes use the cores.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A 100,000-row upload is parsed and stored before the 202; give it time.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app logs every request as JSON

# Every worker process counts its own HTTP metrics in files here; /metrics
# sums them. A fresh folder per start, so counts of dead processes vanish.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="partner-api-metrics-")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
