"""``dsr serve``: the self-service portal for data subjects and the console for staff.

Needs the ``serve`` extra (Starlette, uvicorn, python-multipart)::

    from dsr.web import create_app
    from dsr.web.mail import OutboxMailer
    app = create_app(toolkit, OutboxMailer("outbox"), base_url="https://privacy.example.com")

The app is ASGI: run it with uvicorn (``dsr serve`` does) behind a TLS-terminating proxy.
"""

from __future__ import annotations

from dsr.web.app import Limits, create_app

__all__ = ["Limits", "create_app"]
