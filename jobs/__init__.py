"""Background jobs: procrastinate workers on our Postgres, job_runs, schedules (see jobs/api.py)."""
