package identity

// NormalizeEmail is an email as sign-in looks it up: trimmed, lower case.
func NormalizeEmail(v string) string { return normalizeEmail(v) }

// ValidEmail reports whether v is an email address an account may have:
// one address and nothing else, at most 255 bytes.
func ValidEmail(v string) bool { return validEmail(v) }

// NormalizePhone is a phone number in E.164 as sign-in looks it up; ok is
// false for what is not a valid number.
func NormalizePhone(v string) (string, bool) { return normalizePhone(v) }

// PhoneForms is what a phone number may be stored as, as sign-in looks it
// up: its E.164 form first, then the forms releases before E.164
// normalisation stored. ok is false when v is not a phone number.
func PhoneForms(v string) ([]string, bool) { return phoneLookup(v) }
