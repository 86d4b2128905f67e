from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "fleet"
    verbose_name = "Fleet actions"

    def ready(self):
        # The worker runs the jobs.
        from devmanager.worker import register_work

        from .jobs import run_jobs

        register_work("fleet actions", run_jobs, threads_setting="DEVMANAGER_JOB_THREADS")
