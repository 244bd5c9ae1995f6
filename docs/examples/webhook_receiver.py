"""A receiver of the Asset Directory's lifecycle events, verifying each request with the
Standard Webhooks library (`pip install standardwebhooks`) before trusting it. It prints each
verified event as a JSON line and answers 204; a request that does not verify gets 400.
Run: PORT=8787 WEBHOOK_SECRET=whsec_… python webhook_receiver.py
The tests run this file as it is."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
seen = set()  # webhook-ids handled already: a delivery may come more than once


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            # The raw body, exactly as received; the headers as sent (webhook-id, -timestamp, -signature).
            event = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        if event["id"] not in seen:
            seen.add(event["id"])
            if event["type"] == "connection.expired":
                pass  # e.g. ask event["data"]["user_id"] to reconnect event["data"]["ref_id"]
            print(json.dumps(event), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8787"))), Receiver)
print(f"listening on http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr, flush=True)
server.serve_forever()
