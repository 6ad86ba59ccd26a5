package verify

import (
	"strings"
	"time"
)

// Independent vectors: signatures of s14Body with s14Secret, computed with python3 hmac and checked with openssl.
const (
	s14Hex    = "c99dcd69e2f455a559a87dcb03ec937afb162c4907f8a198fff25e657028060d"
	s14Base64 = "yZ3NaeL0VaVZqH3LA+yTevsWLEkH+KGY//JeZXAoBg0="
	s14V0     = "v0=648168589f1a2dc2b5c682268f07236da81ee1230d357405d1773400763dd7ee"
	s14Dot    = "4c37aa57e00dc0b77c9d05fb2e7eef4029eaa8704fb4d1565722b3756924a01d"
	s14SHA1   = "52d008f981a31c0a7aceb0aa9d874cad9e3bf3da"

	// Computed with python3 hmac (see each vector) for the default
	// request URL https://hooks.example.com/hook.
	trelloSig  = "l84+ELvS7xjrHFiAIYnLS7Fd5KU="                 // b64 HMAC-SHA1(body+url)
	hubspotSig = "ZQVqx10O+Eh1lAS6ozwbsq3c0tlLTnEa3pW8nUS0UF4=" // b64 HMAC-SHA256("POST"+url+body+"1700000000000")
	linearBody = `{"action":"create","type":"Issue","webhookId":"wh_1","webhookTimestamp":1700000000000}`
	linearSig  = "4a00b84eab6df55fa44e8967c510e1831bc4ed15acf1709cb8675d5f93b8211f"

	mailgunBody     = `{"signature":{"timestamp":"1700000000","token":"tok123","signature":"525199ae40d4aeff6c52cc7bb9269cac1540813e7aae9a35d2477d1d70b1dcf1"},"event-data":{"id":"ev-1","event":"delivered"}}`
	mailgunUnsigned = `{"event-data":{"id":"ev-1","event":"delivered"}}`

	jwpBody = `{"event":"media_available","webhook_id":"w1","media_id":"m1","event_time":"2023-11-14T22:13:20Z","attempt":1}`
)

// stdWebhook is the Standard Webhooks SDK vector under a provider's header
// prefix ("webhook" or "svix").
func stdWebhook(name, provider, prefix string) vector {
	return vector{
		name: name, provider: provider, opts: secrets(stdSecret), wrong: secrets(stdWrong),
		header: hdr(prefix+"-id", stdID, prefix+"-timestamp", "1614265330", prefix+"-signature", stdSig),
		body:   stdBody, signedAt: unix(1614265330), sigHdr: prefix + "-signature", wantID: stdID,
	}
}

// s14 is an independent vector: s14Body signed with s14Secret, no timestamp.
func s14(provider, header, sig string, kv ...string) vector {
	return vector{
		name: provider + " independent vector", provider: provider, opts: secrets(s14Secret), wrong: secrets("test_secreT"),
		header: hdr(append([]string{header, sig}, kv...)...), body: s14Body, sigHdr: header,
	}
}

func withID(v vector, id string) vector { v.wantID = id; return v }

func withTS(v vector, at time.Time) vector { v.signedAt = at; return v }

func longTailVectors() []vector {
	f := fixture()
	snsNote := map[string]string{"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn": testTopic, "Subject": "My First Message", "Message": "Hello world!", "Timestamp": "2023-11-14T22:13:20.000Z"}
	noSubject := map[string]string{"Type": "Notification", "MessageId": "m-2", "TopicArn": testTopic,
		"Message": `{"status":"COMPLETE"}`, "Timestamp": "2023-11-14T22:13:20.000Z"}
	confirm := map[string]string{"Type": "SubscriptionConfirmation", "MessageId": "m-3", "TopicArn": testTopic,
		"Token": "2336412f37", "Message": "You have chosen to subscribe", "Timestamp": "2023-11-14T22:13:20.000Z",
		"SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37"}
	snsVec := func(name string, fields map[string]string, version string) vector {
		body := f.snsSigned(fields, version)
		return vector{name: name, provider: "sns", opts: f.snsOpts(), wrong: f.snsWrong(), body: body,
			tampered: strings.Replace(body, fields["MessageId"], fields["MessageId"]+"0", 1),
			unsigned: strings.Replace(body, `"Signature":`, `"Signaturx":`, 1), wantID: fields["MessageId"]}
	}
	pubsubWrong := f.pubsubOpts()
	pubsubWrong.JWKSURL = f.otherJWKSURL
	jwp := map[string]any{"event": "media_available", "webhook_id": "w1", "media_id": "m1", "event_time": "2023-11-14T22:13:20Z", "attempt": 1}

	return []vector{
		stdWebhook("clerk (svix) SDK vector", "clerk", "svix"),
		stdWebhook("resend (svix) SDK vector", "resend", "svix"),
		stdWebhook("openai (standard webhooks) SDK vector", "openai", "webhook"),
		stdWebhook("gitlab signing token (standard webhooks) SDK vector", "gitlab-signed", "webhook"),
		withTS(s14("calendly", "Calendly-Webhook-Signature", "t=1700000000,v1="+s14Dot), unix(1700000000)),
		withID(s14("gitea", "X-Gitea-Signature", s14Hex, "X-Gitea-Delivery", "d-1"), "d-1"),
		withID(s14("bitbucket", "X-Hub-Signature", "sha256="+s14Hex, "X-Request-UUID", "u-1"), "u-1"),
		s14("facebook", "X-Hub-Signature-256", "sha256="+s14Hex),
		withID(s14("notion", "X-Notion-Signature", "sha256="+s14Hex), "evt_1"),
		s14("asana", "X-Hook-Signature", s14Hex),
		withTS(s14("zoom", "x-zm-signature", s14V0, "x-zm-request-timestamp", s14TS), unix(1700000000)),
		withTS(s14("frameio", "X-Frameio-Signature", s14V0, "X-Frameio-Request-Timestamp", s14TS), unix(1700000000)),
		s14("xero", "x-xero-signature", s14Base64),
		s14("docusign", "X-DocuSign-Signature-1", s14Base64),
		s14("bunny", "X-BunnyStream-Signature", s14Hex),
		s14("wistia", "X-Wistia-Signature", s14Hex),
		s14("dropbox", "X-Dropbox-Signature", s14Hex),
		withID(s14("sentry", "Sentry-Hook-Signature", s14Hex, "Request-ID", "req-1"), "req-1"),
		withID(s14("vercel", "x-vercel-signature", s14SHA1), "evt_1"),
		s14("trello", "X-Trello-Webhook", trelloSig),
		withTS(s14("hubspot", "X-HubSpot-Signature-v3", hubspotSig, "X-HubSpot-Request-Timestamp", "1700000000000"), time.UnixMilli(1700000000000)),
		{
			name: "linear: signed body webhookTimestamp", provider: "linear",
			opts: secrets(s14Secret), wrong: secrets("x"),
			header: hdr("Linear-Signature", linearSig, "Linear-Delivery", "dl-1"),
			body:   linearBody, signedAt: time.UnixMilli(1700000000000), sigHdr: "Linear-Signature", wantID: "dl-1",
		},
		{
			name: "mailgun independent vector (signature in the body)", provider: "mailgun",
			opts: secrets(s14Secret), wrong: secrets("x"), body: mailgunBody, signedAt: unix(1700000000),
			tampered: strings.Replace(mailgunBody, "tok123", "tok124", 1), unsigned: mailgunUnsigned, wantID: "ev-1",
		},
		{
			name: "jwplayer HS256 token whose claims are the body", provider: "jwplayer",
			opts: secrets("jwp-secret"), wrong: secrets("jwp-secreT"),
			header: hdr("Authorization", "Bearer "+hs256("jwp-secret", jwp)),
			body:   jwpBody, sigHdr: "Authorization", wantID: "w1:media_available:m1:2023-11-14T22:13:20Z",
			tampered: strings.Replace(jwpBody, `"m1"`, `"m2"`, 1),
		},
		snsVec("sns notification, SignatureVersion 1 (SHA1withRSA)", snsNote, "1"),
		snsVec("sns notification without Subject, SignatureVersion 2 (SHA256withRSA)", noSubject, "2"),
		snsVec("sns subscription confirmation, SignatureVersion 2", confirm, "2"),
		{
			name: "pubsub push OIDC token", provider: "pubsub", opts: f.pubsubOpts(), wrong: pubsubWrong,
			header: hdr("Authorization", "Bearer "+f.googleToken(f.googleKey, nil)),
			body:   `{"message":{"data":"aGk=","messageId":"136969346945","publishTime":"2023-11-14T22:13:19Z"},"subscription":"projects/p/subscriptions/s"}`,
			sigHdr: "Authorization", wantID: "136969346945", bodyFree: true,
		},
		{
			name: "okta event hook token", provider: "okta",
			opts: secrets("okta-secret"), wrong: secrets("okta-secreT"),
			header: hdr("Authorization", "okta-secret"),
			body:   `{"eventType":"com.okta.event_hook","eventId":"b5a188b9"}`, sigHdr: "Authorization", wantID: "b5a188b9", bodyFree: true,
		},
	}
}
