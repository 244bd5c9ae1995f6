// A receiver of the Asset Directory's lifecycle events, verifying each request with the Standard
// Webhooks library (`npm install standardwebhooks`) before trusting it. It prints each verified
// event as a JSON line and answers 204; a request that does not verify gets 400.
// Run: PORT=8787 WEBHOOK_SECRET=whsec_… node webhook_receiver.mjs
// The tests run this file as it is.

import http from "node:http";
import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const seen = new Set(); // webhook-ids handled already: a delivery may come more than once

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let event;
    try {
      // The raw body, exactly as received; the headers as sent (webhook-id, -timestamp, -signature).
      event = webhook.verify(Buffer.concat(chunks).toString("utf8"), req.headers);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!seen.has(event.id)) {
      seen.add(event.id);
      if (event.type === "connection.expired") {
        // e.g. ask event.data.user_id to reconnect event.data.ref_id
      }
      console.log(JSON.stringify(event));
    }
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT ?? 8787), "127.0.0.1", () => {
  console.error(`listening on http://127.0.0.1:${server.address().port}/`);
});
