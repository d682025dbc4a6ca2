"""``[core] hostname_callable`` of the cluster tier's processes: the name in ``CLUSTER_HOSTNAME``.

Every process of the tier runs on one machine; naming each worker and triggerer as its own host makes
the REST API and the jobs table say which one ran a task or holds a trigger, as on a real cluster.
"""

import os
import socket


def hostname() -> str:
    return os.environ.get("CLUSTER_HOSTNAME") or socket.getfqdn()
