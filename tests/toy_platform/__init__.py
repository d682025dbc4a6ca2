"""A toy third transfer platform: one hook module (``hook.py``) plus a tiny HTTP server (``server.py``).

It exists to keep the registry's promise honest: a platform is one ``TransferHook`` subclass and one
``register_hook`` call; the sensor, the trigger and reconciliation then work on it unchanged.
"""
