// Signs and verifies webhooks with the providers' own npm packages, so the
// end-to-end tests do not only check our code against itself.
// Input (stdin, JSON): {op, provider, secret, body, id, timestamp, headers}
// Output (stdout, JSON): {headers} for op "sign", {ok} for op "verify".
import { Webhook } from "standardwebhooks";
import { sign as githubSign } from "@octokit/webhooks-methods";
import Stripe from "stripe";

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (c) => (data += c));
  process.stdin.on("end", () => resolve(data));
}));

async function sign({ provider, secret, body, id, timestamp }) {
  switch (provider) {
    case "standard": {
      const sig = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
      return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": sig };
    }
    case "github":
      return { "X-Hub-Signature-256": await githubSign(secret, body), "X-GitHub-Delivery": id };
    case "stripe": {
      const stripe = new Stripe("sk_test_unused");
      return { "Stripe-Signature": stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }) };
    }
  }
  throw new Error(`no npm signer for ${provider}`);
}

function verify({ provider, secret, body, headers }) {
  if (provider !== "standard") throw new Error(`no npm verifier for ${provider}`);
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

const out = input.op === "verify" ? { ok: verify(input) } : { headers: await sign(input) };
process.stdout.write(JSON.stringify(out));
