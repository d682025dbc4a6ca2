"""Entry point of ``python -m airflow_provider_transfers.sandbox``."""

import sys

from airflow_provider_transfers.sandbox.cli import main

sys.exit(main())
