"""Apache Airflow 3 provider for call transfers on Twilio Flex and VoIPbin."""

from __future__ import annotations

from typing import Any

from airflow_provider_transfers.connection_ui import TWILIO_FLEX_UI, VOIPBIN_UI

__version__ = "0.1.0"

_PKG = "airflow_provider_transfers"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-transfers",
        "name": "Transfers (Twilio Flex, VoIPbin)",
        "description": "Start, update, wait for, reconcile and audit call transfers on Twilio Flex and VoIPbin.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "twilio_flex",
                "hook-class-name": f"{_PKG}.hooks.twilio_flex.TwilioFlexHook",
                **TWILIO_FLEX_UI,
            },
            {"connection-type": "voipbin", "hook-class-name": f"{_PKG}.hooks.voipbin.VoipbinHook", **VOIPBIN_UI},
        ],
        "hooks": [
            {"integration-name": "Twilio Flex", "python-modules": [f"{_PKG}.hooks.twilio_flex"]},
            {"integration-name": "VoIPbin", "python-modules": [f"{_PKG}.hooks.voipbin"]},
        ],
        "operators": [
            {"integration-name": "Twilio Flex", "python-modules": [f"{_PKG}.operators.twilio_flex"]},
            {"integration-name": "VoIPbin", "python-modules": [f"{_PKG}.operators.voipbin"]},
            {"integration-name": "Transfers", "python-modules": [f"{_PKG}.operators.reconcile"]},
        ],
        "sensors": [{"integration-name": "Transfers", "python-modules": [f"{_PKG}.sensors.transfer"]}],
        "triggers": [{"integration-name": "Transfers", "python-modules": [f"{_PKG}.triggers.transfer"]}],
        "integrations": [
            {"integration-name": "Twilio Flex", "external-doc-url": "https://www.twilio.com/docs/flex"},
            {"integration-name": "VoIPbin", "external-doc-url": "https://docs.voipbin.net"},
            {"integration-name": "Transfers", "external-doc-url": "https://www.twilio.com/docs/flex"},
        ],
    }
