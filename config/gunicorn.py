"""gunicorn settings for the API, read from the installed package:
``gunicorn -c python:config.gunicorn 'partner_api.app:create_app()'``.

Threads, not processes, carry concurrency inside a worker (uploads mostly
wait on the network and the database); several worker processes use the cores.
"""

import os
import shutil

from config.settings import Settings

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A 100,000-row upload is parsed and stored before the 202; give it time.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
# No gunicornc control socket: one fixed path in $HOME would be shared by
# every gunicorn on the machine, and nothing here uses it.
control_socket_disable = True
accesslog = None  # the app logs every request as JSON

# gunicorn's own lines (starting, worker booted, worker killed, ...) as JSON
# through the app's formatter, one line per event like every other log line.
loglevel = Settings.from_env().log_level.lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
        # The app logs every request itself (with its request_id); gunicorn's
        # access line would repeat it.
        "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
    },
}

# Every worker process counts its own HTTP metrics in files here; /metrics
# sums them, so a counter never goes back whichever process answers a scrape,
# and a dead process's counts stay in the sums. A fresh folder per start.
_own_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    _own_metrics_dir = tempfile.mkdtemp(prefix="partner-api-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
