package auth

import "testing"

// A token from the documentation: payload {"sub":"test","name":"Test User","admin":false}.
const docToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0IiwibmFtZSI6IlRlc3QgVXNlciIsImFkbWluIjpmYWxzZX0.c2lnbmF0dXJlLWZvci1kb2N1bWVudGF0aW9uLW9ubHk"

func TestParseRejectsBadSignature(t *testing.T) {
	if _, err := Parse(docToken, []byte("other")); err == nil {
		t.Fatal("expected error")
	}
}
