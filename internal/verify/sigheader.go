package verify

import (
	"encoding/base64"
	"strings"
)

// maxSignatures bounds the signatures one header may carry: senders send one
// or two (secret rotation); more would only multiply the HMACs per request.
const maxSignatures = 8

// listFormat says how a signature header carries its signatures.
type listFormat struct {
	sep    byte   // 0: one signature; ' ': space list; else key=value list
	tsKey  string // key=value lists: the timestamp's key ("t", "ts")
	sigKey string // key=value lists: the signature's key ("v1", "h1")
}

// spaceList is the Standard Webhooks form: "v1,<sig> v1,<sig> v1a,<sig>".
var spaceList = listFormat{sep: ' '}

// kvList is the Stripe/Mux form "t=1,v1=a,v1=b,v0=c" (sep ',') and the
// Paddle form "ts=1;h1=a;h1=b" (sep ';').
func kvList(sep byte, tsKey, sigKey string) listFormat {
	return listFormat{sep: sep, tsKey: tsKey, sigKey: sigKey}
}

func (f listFormat) carriesTimestamp() bool { return f.tsKey != "" }

// sigHeader is a parsed signature header. A fixed array keeps parsing free
// of allocations.
type sigHeader struct {
	ts   string
	sigs [maxSignatures]string
	n    int
}

func (h *sigHeader) add(sig string) bool {
	if h.n == maxSignatures {
		return false
	}
	h.sigs[h.n] = sig
	h.n++
	return true
}

// parseSigHeader splits a header value into its signatures (still encoded)
// and, for key=value lists, its timestamp. Items of other schemes or
// versions (Stripe's v0, Standard Webhooks' v1a) are ignored. ok is false
// when no usable signature is present or the header is malformed.
func parseSigHeader(value string, f listFormat, prefix string) (h sigHeader, ok bool) {
	switch {
	case f.sep == 0:
		sig, found := strings.CutPrefix(strings.TrimSpace(value), prefix)
		if !found || sig == "" {
			return h, false
		}
		h.add(sig)
		return h, true
	case f.tsKey == "":
		for value != "" {
			var item string
			item, value, _ = strings.Cut(value, string(f.sep))
			if sig, found := strings.CutPrefix(item, prefix); found && sig != "" {
				if !h.add(sig) {
					return h, false
				}
			}
		}
		return h, h.n > 0
	default:
		for value != "" {
			var item string
			item, value, _ = strings.Cut(value, string(f.sep))
			k, v, found := strings.Cut(strings.TrimSpace(item), "=")
			if !found {
				continue
			}
			switch k {
			case f.tsKey:
				if h.ts != "" {
					return h, false // two timestamps: which one was signed?
				}
				h.ts = v
			case f.sigKey:
				if v != "" && !h.add(v) {
					return h, false
				}
			}
		}
		return h, h.ts != "" && h.n > 0
	}
}

// maxEncodedSig is the longest encoded signature accepted: a hex SHA-512
// MAC; a DER ECDSA or RSA-4096 signature in base64 is longer, so those go
// through decodeLong.
const maxEncodedSig = 128

// decodeSig decodes an encoded signature into dst without allocating.
func decodeSig(dst []byte, encoding, s string) (int, bool) {
	if len(s) > maxEncodedSig {
		return 0, false
	}
	if encoding == "hex" {
		return decodeHex(dst, s)
	}
	var src, out [maxEncodedSig]byte
	n := copy(src[:], s)
	// DecodedLen counts padding as data (88 padded characters of a SHA-512
	// MAC "decode" to 66 bytes), so decode into room enough, then check.
	m, err := base64Encoding(encoding, s).Decode(out[:], src[:n])
	if err != nil || m > len(dst) {
		return 0, false
	}
	return copy(dst, out[:m]), true
}

// decodeHex accepts either case, as hex.Decode does, but from a string.
func decodeHex(dst []byte, s string) (int, bool) {
	if len(s)%2 != 0 || len(s)/2 > len(dst) {
		return 0, false
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := fromHexChar(s[i])
		lo, ok2 := fromHexChar(s[i+1])
		if !ok1 || !ok2 {
			return 0, false
		}
		dst[i/2] = hi<<4 | lo
	}
	return len(s) / 2, true
}

func fromHexChar(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// base64Encoding picks the padded or raw alphabet by the value's shape, as
// senders differ in whether they pad.
func base64Encoding(encoding, s string) *base64.Encoding {
	padded := len(s)%4 == 0
	switch {
	case encoding == "base64url" && padded:
		return base64.URLEncoding
	case encoding == "base64url":
		return base64.RawURLEncoding
	case padded:
		return base64.StdEncoding
	default:
		return base64.RawStdEncoding
	}
}

// decodeLong decodes signatures too long for decodeSig (asymmetric ones);
// those schemes are not on the allocation-sensitive path.
func decodeLong(encoding, s string) ([]byte, bool) {
	if encoding == "hex" {
		dst := make([]byte, len(s)/2)
		n, ok := decodeHex(dst, s)
		return dst[:n], ok
	}
	b, err := base64Encoding(encoding, s).DecodeString(s)
	return b, err == nil
}
