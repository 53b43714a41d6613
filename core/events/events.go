// Package events is the engine's event bus: every lifecycle change is
// published once and fanned out to subscribers, with the last events
// kept for "since" queries. Safe for concurrent use; a subscriber that
// does not keep up loses events rather than blocking the engine.
package events

import (
	"sync"
	"time"

	"github.com/petrel-edge/petrel/core/api"
)

// keep is how many past events the bus remembers.
const keep = 256

// Bus fans events out to subscribers.
type Bus struct {
	mu   sync.Mutex
	subs map[chan api.Event]struct{}
	past []api.Event
}

// Publish records an event about obj (type "container", "image", …)
// with the given action and attributes, stamped now.
func (b *Bus) Publish(typ, action, id string, attrs map[string]string) api.Event {
	now := time.Now()
	e := api.Event{
		Type: typ, Action: action, Scope: "local",
		Actor: api.Actor{ID: id, Attributes: attrs},
		Time:  now.Unix(), TimeNano: now.UnixNano(),
		Status: action, ID: id, From: attrs["image"],
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.past) == keep {
		copy(b.past, b.past[1:])
		b.past = b.past[:keep-1]
	}
	b.past = append(b.past, e)
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
		}
	}
	return e
}

// Subscribe returns the remembered events at or after since (none for a
// zero since), a channel of the events to come, and a cancel function.
func (b *Bus) Subscribe(since time.Time) ([]api.Event, <-chan api.Event, func()) {
	ch := make(chan api.Event, 64)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[chan api.Event]struct{}{}
	}
	b.subs[ch] = struct{}{}
	var past []api.Event
	if !since.IsZero() {
		for _, e := range b.past {
			if e.TimeNano >= since.UnixNano() {
				past = append(past, e)
			}
		}
	}
	return past, ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}
