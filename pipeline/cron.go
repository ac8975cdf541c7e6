package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/slipwaycd/slipway/config"
)

// recheck bounds how long the scheduler sleeps, so that cron triggers
// added to the config repo are picked up.
const recheck = 30 * time.Second

// cron fires cron triggers on schedule. Each firing is de-duplicated by its
// scheduled time, so a restart at the wrong moment does not fire twice; a
// firing missed while the server was down is not made up.
func (e *Engine) cron(ctx context.Context) {
	next := map[string]time.Time{}
	for {
		now := e.o.Clock.Now()
		wake := now.Add(recheck)
		if e.o.Reconciler.Config() == nil {
			wake = now.Add(time.Second) // the config repo is not read yet
		}
		seen := map[string]bool{}
		e.forEachTrigger(config.TriggerCron, func(def *config.Pipeline, t config.Trigger, i int) {
			key := fmt.Sprintf("%s/%s#%d %s %s", def.Application, def.Name, i, t.Schedule, t.TimeZone)
			seen[key] = true
			sched, err := schedule(t)
			if err != nil {
				return // the loader refuses bad schedules; nothing to do here
			}
			at, ok := next[key]
			if !ok {
				at = sched.Next(now)
			}
			if !at.After(now) {
				e.fireCron(ctx, def, t, i, at)
				at = sched.Next(now)
			}
			next[key] = at
			if at.Before(wake) {
				wake = at
			}
		})
		for key := range next {
			if !seen[key] {
				delete(next, key)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.o.Clock.After(wake.Sub(now)):
		}
	}
}

func (e *Engine) fireCron(ctx context.Context, def *config.Pipeline, t config.Trigger, i int, at time.Time) {
	x, err := e.start(ctx, def, e.o.Reconciler.Revision(), Trigger{
		Type: config.TriggerCron, User: "cron",
		Summary: fmt.Sprintf("schedule %q at %s", t.Schedule, at.UTC().Format(time.RFC3339)),
	}, nil, nil, fmt.Sprintf("cron:%s/%s#%d:%d", def.Application, def.Name, i, at.Unix()))
	if err != nil {
		e.log.Error("cron trigger", "pipeline", def.Application+"/"+def.Name, "err", err)
		return
	}
	e.log.Info("cron trigger fired", "pipeline", def.Application+"/"+def.Name, "id", x.ID, "status", x.Status)
}

// schedule parses a cron trigger's schedule in its time zone.
func schedule(t config.Trigger) (cron.Schedule, error) {
	spec := t.Schedule
	if t.TimeZone != "" {
		spec = "CRON_TZ=" + t.TimeZone + " " + spec
	}
	return cron.ParseStandard(spec)
}
