"""Sweeps on a Dask cluster: ``emutcp experiment FILE --cluster ADDRESS``.

Dask (``pip install 'emutcp[cluster]'``, which is ``dask[distributed]``) is
the distributed engine: a scheduler hands the trials to workers on any number
of machines and reschedules the trials of a worker that dies.  A trial is a
pure function of ``(params, seed)``, so where it runs changes nothing: a
cluster's results are the same numbers as a local run's.

``--cluster`` takes

* ``tcp://HOST:8786``: a running scheduler (``dask scheduler`` on one machine,
  ``dask worker tcp://HOST:8786`` on each of the others);
* ``local:N``: a ``LocalCluster`` of N single-threaded worker processes here.

Any other Dask deployment hands its scheduler's address to ``--cluster`` in
the same way (dask-jobqueue's ``SLURMCluster``, dask-kubernetes'
``KubeCluster``: see the README).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before giving up


class ClusterError(Exception):
    """A --cluster value that cannot be used (the CLI reports it as a usage error)."""


def parse_cluster(spec: str) -> tuple[str, Any]:
    """``("local", workers)`` or ``("address", "tcp://host:port")``."""
    if spec.startswith("local:"):
        try:
            n = int(spec.partition(":")[2])
        except ValueError:
            n = 0
        if n < 1:
            raise ClusterError(f"--cluster {spec}: local:N needs a worker count N >= 1")
        return "local", n
    if "://" in spec and spec.split("://", 1)[1]:
        return "address", spec
    raise ClusterError(f"--cluster {spec}: expected tcp://HOST:PORT or local:N")


@contextlib.contextmanager
def open_cluster(spec: str, *, processes: bool = True) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (see ``parse_cluster``), closed after."""
    kind, value = parse_cluster(spec)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError(
            "--cluster needs Dask: pip install 'emutcp[cluster]' (dask[distributed])"
        ) from None
    if kind == "local":
        with (
            LocalCluster(
                n_workers=value,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=logging.ERROR,  # not its shutdown chatter on a busy machine
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(value, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConnectionError(f"cannot reach the Dask scheduler at {value}: {why}") from None
    try:
        yield client
    finally:
        client.close()


def run_on_cluster(
    client: Any,
    fn: Callable[[Any], tuple[int, dict]],
    jobs: list[Any],
    done: Callable[[int, dict], None],
    *,
    retries: int = 2,
) -> None:
    """Submit ``fn(job)`` for every job and call ``done(index, result)`` as each
    finishes (in completion order).  A trial lost with its worker is rerun
    elsewhere by the scheduler; one that raises is retried ``retries`` times."""
    from distributed import as_completed

    futures = [client.submit(fn, job, pure=False, retries=retries) for job in jobs]
    for future in as_completed(futures):
        index, result = future.result()
        done(index, result)
        future.release()
