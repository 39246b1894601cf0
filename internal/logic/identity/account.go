package identity

import (
	"net/mail"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// DefaultPhoneRegion is the country of a phone number written without a
// country code ("13800000000" is +86 138 0000 0000): the service's users
// are in mainland China.
const DefaultPhoneRegion = "CN"

// maxPhoneInput bounds what is handed to the phone parser.
const maxPhoneInput = 64

// normalizePhone is the E.164 form of a phone number as people write it
// (spaces, dashes, brackets, a trunk prefix, no country code for a number
// of DefaultPhoneRegion). ok is false for what is not a valid number.
func normalizePhone(v string) (e164 string, ok bool) {
	n, ok := parsePhone(v)
	if !ok || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

func parsePhone(v string) (*phonenumbers.PhoneNumber, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > maxPhoneInput {
		return nil, false
	}
	n, err := phonenumbers.Parse(v, DefaultPhoneRegion)
	if err != nil {
		return nil, false
	}
	return n, true
}

// anyE164 is v in E.164 form, whether or not libphonenumber takes the
// number as valid; ok is false when v is not a phone number.
func anyE164(v string) (string, bool) {
	n, ok := parsePhone(v)
	if !ok {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// phoneLookup is what a phone number may be stored as: its E.164 form
// first, then the forms releases before E.164 normalisation stored (the
// digits as typed, the national number with and without its trunk prefix,
// the country code without "+"), so that users created then still sign in
// and still hold their number. ok is false when v is not a phone number.
func phoneLookup(v string) (forms []string, ok bool) {
	n, ok := parsePhone(v)
	if !ok {
		return nil, false
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	forms = []string{e164}
	add := func(s string) {
		if s != "" && len(s) <= 32 && !slices.Contains(forms, s) {
			forms = append(forms, s)
		}
	}
	add(typedPhone(v))
	add(phonenumbers.GetNationalSignificantNumber(n))
	add(typedPhone(phonenumbers.Format(n, phonenumbers.NATIONAL)))
	add(strings.TrimPrefix(e164, "+"))
	return forms, true
}

// typedPhone drops the separators people type in a phone number, as
// releases before E.164 normalisation stored it.
func typedPhone(v string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '.':
			return -1
		}
		return r
	}, strings.TrimSpace(v))
}

func validEmail(v string) bool {
	if len(v) > 255 {
		return false
	}
	addr, err := mail.ParseAddress(v)
	return err == nil && addr.Address == v && addr.Name == ""
}

// normalizeEmail trims and lowercases an address: MySQL compares emails
// without case and the embedded store with it, so storing and looking up
// one form keeps both alike.
func normalizeEmail(v string) string { return strings.ToLower(strings.TrimSpace(v)) }
