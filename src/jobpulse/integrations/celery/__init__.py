"""Celery tasks as the spec's job lifecycle, through Celery's signals — no events stream, no exporter.

    from jobpulse.integrations.celery import instrument_celery
    instrument_celery(app, telemetry, job="render")        # in the producer and in the worker

Needs ``pip install 'jobpulse[celery]'``. The handlers run inside the processes that publish and run
tasks, and map Celery's events onto the job named in the spec (``jobs:`` in ``jobpulse.yaml``):

============================  ===========================================================================
Celery                        job lifecycle (the spec's roles)
============================  ===========================================================================
``before_task_publish``       ``enqueued`` +1 (first publish only; a retry is counted by ``task_retry``);
                              the publish time and the caller's trace/request ids are stamped into the
                              task's headers (``jobpulse_published_at``, ``traceparent``, ``x_request_id``)
``task_prerun``               ``started`` +1, ``in_flight`` +1, ``queue_wait`` observes publish → start,
                              *excluding* an ETA/countdown delay (the wait starts at the later of the two)
``task_success``              ``completed{outcome=success}``, ``duration`` (the runtime with
                              ``duration_from: start``)
``task_failure``              ``completed{outcome=failure}``, ``duration``; with ``errors=`` a counter by
                              exception class (a bounded label: the spec's ``max_values``)
``task_retry``                ``retried`` +1 (and ``enqueued`` +1 if ``retries_count_as_enqueued``)
``task_revoked``              with ``revoked=`` a counter; a running task that is terminated also fails
``task_postrun``              closes whatever is still open (``in_flight`` never leaks)
============================  ===========================================================================

The queue-depth role is left alone: a queue shared by processes has its depth in the broker, which
:class:`jobpulse.runtime.queues.QueueState` reads (with the oldest waiting task's age).

Header values are untrusted (anyone who can publish to the broker writes them): the publish time must be
a finite number not far in the future, a ``traceparent`` must be well-formed W3C and a request id must
pass :func:`jobpulse.runtime.context.valid_request_id`; anything else is dropped and the task gets fresh
ids. The task id becomes the context's ``job_id`` only when it is a valid id too.

Works with the prefork, threads and solo pools: per-task state is keyed by task id behind a lock, and
``worker_process_init`` resets it in each forked child (and calls ``on_process_init``, e.g. to start a
per-child ``/metrics`` server). A handler never raises into Celery: a failure is logged at debug level
and counted in ``jobpulse_instrumentation_errors_total{integration="celery"}``.
"""

from __future__ import annotations

from jobpulse.integrations.celery.handlers import CeleryMetrics, instrument_celery
from jobpulse.integrations.celery.headers import MAX_SKEW, PUBLISHED_AT, REQUEST_ID, TRACEPARENT
from jobpulse.runtime.queues import TaskInfo, error_class

__all__ = [
    "PUBLISHED_AT",
    "REQUEST_ID",
    "TRACEPARENT",
    "CeleryMetrics",
    "TaskInfo",
    "error_class",
    "instrument_celery",
]
__all__ += ["MAX_SKEW"]
