-- meta_sync no longer takes `auto_classify`: every sync queues the download and the classification of
-- what it brings (services/pipeline.py). Parameters are checked strictly, so drop it from the schedules
-- and from the runs that may still start or retry.
update scheduled_jobs set params = params - 'auto_classify'
  where job_type = 'meta_sync' and params ? 'auto_classify';
update job_runs set params = params - 'auto_classify'
  where job_type = 'meta_sync' and status in ('queued', 'running') and params ? 'auto_classify';
