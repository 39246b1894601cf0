package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	HeaderEventID   = "X-Mgv-Event-Id"
	HeaderTimestamp = "X-Mgv-Timestamp"
	HeaderSignature = "X-Mgv-Signature"
)

// Sign is the signature header's value for body sent at timestamp (Unix
// seconds): v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>.
func Sign(secret []byte, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Signatures is the signature header's value signing body at timestamp
// with each secret, the current one first: during a rotation's grace the
// header carries "v1=<by the new secret>,v1=<by the old one>".
func Signatures(secrets [][]byte, timestamp int64, body []byte) string {
	out := make([]string, len(secrets))
	for i, s := range secrets {
		out[i] = Sign(s, timestamp, body)
	}
	return strings.Join(out, ",")
}

// Verify is what a receiver does: one of the header's signatures (comma
// separated) must match in constant time, and the timestamp lie within
// tolerance of now.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := []byte(Sign(secret, ts, body))
	ok := false
	for _, sig := range strings.Split(signature, ",") {
		ok = hmac.Equal(want, []byte(strings.TrimSpace(sig))) || ok
	}
	return ok
}

// payload is the body of a delivery, the JSON mapping of an event.
type payload struct {
	ID         int64           `json:"id"`
	Type       string          `json:"type"`
	TenantID   int64           `json:"tenant_id"`
	OccurredAt string          `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// Body is the JSON body delivering e; it is the same on every retry.
func Body(e Event) ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return json.Marshal(payload{
		ID: e.ID, Type: e.Type, TenantID: e.TenantID,
		OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano),
		Data:       data,
	})
}

// Headers are the headers delivering body of event id, signed at now with
// each of secrets (the current one first).
func Headers(secrets [][]byte, id int64, body []byte, now time.Time) map[string]string {
	ts := now.Unix()
	return map[string]string{
		HeaderEventID:   strconv.FormatInt(id, 10),
		HeaderTimestamp: strconv.FormatInt(ts, 10),
		HeaderSignature: Signatures(secrets, ts, body),
	}
}
