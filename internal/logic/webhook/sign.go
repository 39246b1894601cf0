package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
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

// Verify is what a receiver does: the signature must match in constant
// time and the timestamp lie within tolerance of now.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
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

// Headers are the headers delivering body of event id, signed at now.
func Headers(secret []byte, id int64, body []byte, now time.Time) map[string]string {
	ts := now.Unix()
	return map[string]string{
		HeaderEventID:   strconv.FormatInt(id, 10),
		HeaderTimestamp: strconv.FormatInt(ts, 10),
		HeaderSignature: Sign(secret, ts, body),
	}
}
