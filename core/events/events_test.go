package events

import (
	"testing"
	"time"
)

func TestPublishSubscribe(t *testing.T) {
	var b Bus
	before := time.Now()
	b.Publish("container", "create", "a", nil)
	past, ch, cancel := b.Subscribe(before)
	if len(past) != 1 || past[0].Action != "create" {
		t.Fatalf("past = %+v, want the create", past)
	}
	if p, _, c := b.Subscribe(time.Time{}); len(p) != 0 {
		t.Errorf("zero since returned %d past events", len(p))
	} else {
		c()
	}
	b.Publish("container", "start", "a", map[string]string{"image": "busybox"})
	e := <-ch
	if e.Action != "start" || e.Status != "start" || e.From != "busybox" || e.Actor.ID != "a" {
		t.Errorf("event %+v", e)
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
}

func TestKeepsLast(t *testing.T) {
	var b Bus
	since := time.Now()
	for i := 0; i < keep+10; i++ {
		b.Publish("container", "x", "a", nil)
	}
	past, _, cancel := b.Subscribe(since)
	defer cancel()
	if len(past) != keep {
		t.Errorf("%d past events, want %d", len(past), keep)
	}
}
