package main

import (
	"net/http/httptest"
	"testing"
)

func TestHello(t *testing.T) {
	rec := httptest.NewRecorder()
	hello(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Body.String() != "hello\n" {
		t.Fatalf("got %q", rec.Body.String())
	}
}
