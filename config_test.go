package main

import (
	"reflect"
	"testing"

	"blockpeer/peer"
)

// The course bounds of config.go set every field of peer.Limits, and
// peer.DefaultLimits (what tests and nodes built without limits get) is
// the same: the numbers cannot drift apart.
func TestCourseLimits(t *testing.T) {
	got := courseLimits()
	v := reflect.ValueOf(got)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("courseLimits leaves %s zero", v.Type().Field(i).Name)
		}
	}
	if want := peer.DefaultLimits(); got != want {
		t.Errorf("courseLimits() = %+v\npeer.DefaultLimits() = %+v", got, want)
	}
	if replyRate != peer.DefaultReplyRate || replyBurst != peer.DefaultReplyBurst {
		t.Errorf("reply rate %d/%d, peer defaults %d/%d", replyRate, replyBurst, peer.DefaultReplyRate, peer.DefaultReplyBurst)
	}
}
