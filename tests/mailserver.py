"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepted, with scripted refusals and a
connection drop after it has taken a message; and, beside it, the relay's message lookup by
``Message-ID`` (a stand-in for an e-mail service's search of its accepted mail)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections import Counter
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """``rcpt_script`` / ``data_script``: the next answers to RCPT and to a message (then 250);
    ``"drop"`` keeps the message and closes the connection before answering."""

    def __init__(self, keep_bodies: bool = True) -> None:
        # False: only Message-ID and the envelope's recipient are kept (a test of 300,000 messages)
        self.keep_bodies = keep_bodies
        self.accepted: list[EmailMessage] = []
        self.received: list[tuple[str, str]] = []  # (Message-ID, recipient) of every message taken
        self.ids: Counter[str] = Counter()
        self.rcpt_script: list[str] = []
        self.data_script: list[str] = []
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        answer = self.rcpt_script.pop(0) if self.rcpt_script else "250 OK"
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = self.data_script.pop(0) if self.data_script else "250 OK"
        content = cast(bytes, envelope.content)
        found = _MESSAGE_ID.search(content)
        message = (str(found.group(1), "ascii") if found else "", envelope.rcpt_tos[0])
        if answer == "drop":
            self._keep(message, content)
            assert server.transport is not None
            cast(asyncio.Transport, server.transport).abort()
            return "250 OK"
        if answer.startswith("250"):
            self._keep(message, content)
        return answer

    def _keep(self, message: tuple[str, str], content: bytes) -> None:
        with self.lock:
            if self.keep_bodies:
                self.accepted.append(message_from_bytes(content, policy=default))
            self.received.append(message)
            self.ids[message[0]] += 1

    def message_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(self.ids)

    def has(self, message_id: str) -> bool:
        with self.lock:
            return message_id in self.ids


class MailServer:
    def __init__(self, keep_bodies: bool = True) -> None:
        self.mailbox = Mailbox(keep_bodies)
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.lookups: list[str] = []
        server = self

        class Lookup(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # one connection for a pass's lookups

            def do_GET(self) -> None:
                wanted = parse_qs(urlparse(self.path).query)["message_id"][0]
                server.lookups.append(wanted)
                body = json.dumps({"accepted": server.mailbox.has(wanted)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Lookup)
        self.lookup_url = f"http://127.0.0.1:{self.http.server_address[1]}/lookup"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "from_address": "hello@brand.example",
            "from_name": "小店",
            "timeout_seconds": 5,
            **extra,
        }

    def stop(self) -> None:
        if self.controller._thread is not None:
            self.controller.stop()
            self.http.shutdown()
