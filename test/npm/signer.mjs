// Signs and verifies webhooks with the providers' own npm packages, so the
// end-to-end tests do not only check our code against itself.
// Input (stdin, JSON): {op, provider, secret, body, id, timestamp, headers}
// (timestamp in seconds, or milliseconds for the providers that sign those)
// Output (stdout, JSON): {headers} for op "sign", {ok} for op "verify".
import { Webhook } from "standardwebhooks";
import { sign as githubSign } from "@octokit/webhooks-methods";
import Stripe from "stripe";
import { encodeSignatureHeader } from "@sanity/webhook";
import { WorkOS } from "@workos-inc/node";
import { validateWebhook } from "replicate";
import Razorpay from "razorpay";
import { TelnyxWebhook } from "telnyx/lib/webhooks";
import hygraph from "@hygraph/utils";
import braintree from "braintree";
import { WebhooksManager as BoxWebhooks } from "box-node-sdk/lib/managers/webhooks";
import coinbase from "coinbase-commerce-node";
import { verifyRequestSignature as customerioVerify } from "customerio-node";
import { WebflowClient } from "webflow-api";
import { createRequire } from "node:module";

// Meta's WhatsApp SDK exports no subpath; its signer is loaded by file.
const { generateXHub256Sig } = createRequire(import.meta.url)("./node_modules/whatsapp/build/utils.js");

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
    case "whatsapp": // Meta signs Instagram's and Threads' webhooks the same way
    case "instagram":
    case "threads":
      return { "X-Hub-Signature-256": "sha256=" + generateXHub256Sig(body, secret) };
    case "sanity": // timestamp in milliseconds
      return { "sanity-webhook-signature": await encodeSignatureHeader(body, timestamp, secret), "idempotency-key": id };
    case "hygraph": // signs at Date.now()
      return { "gcms-signature": hygraph.generateWebhookSignature({ rawPayload: body, secret }) };
    case "braintree": // id is the public key; the fields are the form's
    case "braintree-challenge": { // body is the challenge; the answer the SDK gives
      const gateway = new braintree.BraintreeGateway({
        environment: braintree.Environment.Sandbox, merchantId: "merchant", publicKey: id, privateKey: secret,
      });
      if (provider === "braintree-challenge") return { answer: gateway.webhookNotification.verify(body) };
      return gateway.webhookTesting.sampleNotification(braintree.WebhookNotification.Kind.Check, "check-1");
    }
    case "workos": { // timestamp in milliseconds; the SDK signs JSON.stringify of the parsed event
      const workos = new WorkOS("sk_test_unused");
      const sig = await workos.webhooks.computeSignature(timestamp, JSON.parse(body), secret);
      return { "WorkOS-Signature": `t=${timestamp}, v1=${sig}` };
    }
  }
  throw new Error(`no npm signer for ${provider}`);
}

// Each verifier answers whether the provider's own package accepts the
// request; for Telnyx, secret is the base64 public key.
async function verify({ provider, secret, body, headers }) {
  try {
    switch (provider) {
      case "standard":
        new Webhook(secret).verify(body, headers);
        return true;
      case "replicate":
        return await validateWebhook({ headers, body }, secret);
      case "razorpay":
        return Razorpay.validateWebhookSignature(body, headers["x-razorpay-signature"], secret);
      case "hygraph":
        return hygraph.verifyWebhookSignature({ rawPayload: body, signature: headers["gcms-signature"], secret });
      case "telnyx":
        await new TelnyxWebhook(secret).verify(body, headers);
        return true;
      case "box": // also refuses a delivery older than 10 min or from the future
        return await BoxWebhooks.validateMessage(body, headers, secret);
      case "coinbase-commerce":
        return coinbase.Webhook.verifySigHeader(body, headers["x-cc-webhook-signature"], secret);
      case "customerio":
        return customerioVerify({
          signingSecret: secret, timestamp: headers["x-cio-timestamp"], signature: headers["x-cio-signature"], body,
        });
      case "webflow":
        return await new WebflowClient({ accessToken: "unused" }).webhooks.verifySignature({ headers, body, secret });
    }
  } catch {
    return false;
  }
  throw new Error(`no npm verifier for ${provider}`);
}

const out = input.op === "verify" ? { ok: await verify(input) } : { headers: await sign(input) };
process.stdout.write(JSON.stringify(out));
