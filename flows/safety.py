"""Keeping content out of Prefect.

Library exceptions may quote content (a file name, a text fragment). Anything that leaves a task
is replaced by a StepFailed carrying only the step, the scan id and the exception's class name,
raised `from None` so no chained traceback is logged or pickled into result storage.
"""

from __future__ import annotations

import errno
import functools
import os

from archive.leases import LeaseLost


class StepFailed(Exception):
    def __init__(self, step: str, scan_id: str, code: str):
        super().__init__(f"step {step} failed for scan {scan_id}: {code}")
        self.step, self.scan_id, self.code = step, scan_id, code

    def __reduce__(self):
        return (StepFailed, (self.step, self.scan_id, self.code))


def failure_code(e: BaseException) -> str:
    """The class of a failure, and for an OS error its errno name (OSError:ENOSPC): never its message."""
    name = type(e).__name__
    if isinstance(e, OSError) and e.errno in errno.errorcode:
        return f"{name}:{errno.errorcode[e.errno]}"
    return name


def content_safe(step: str):
    def wrap(fn):
        @functools.wraps(fn)
        def inner(job, *args, **kwargs):
            try:
                return fn(job, *args, **kwargs)
            except (StepFailed, LeaseLost):  # LeaseLost: the scan is another run's now; carries its id only
                raise
            except Exception as e:  # noqa: BLE001 - every failure is reduced to a code on purpose
                if os.environ.get("DOSSIER_DEBUG"):  # developers only: the full story, content and all
                    raise
                raise StepFailed(step, job.scan_id, failure_code(e)) from None

        return inner

    return wrap
