package automation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwaycd/slipway/config"
)

// PollSource is the Push.Source of pushes the Poller reports; it ends up in
// the bump's commit message ("Reported by registry poll.").
const PollSource = "registry poll"

const (
	// configEvery is how often the Poller re-reads the config, so that a
	// poll: added, changed or removed in Git takes effect.
	configEvery = time.Second
	// registryTimeout bounds one repository's tag listing and digest lookups.
	registryTimeout = time.Minute
)

// Poller is the fallback for registries that cannot send push webhooks: it
// lists the tags of every repository that an image automation polls (poll:),
// picks the tag each automation's policy would deploy (BestTag), and hands it
// to the Automator as a push. A round that finds what the last one handled
// hands over nothing (see poll), and Decide makes a push that is already
// deployed commit nothing, so polling forever is cheap for Git.
type Poller struct {
	// Config returns the config at the newest revision; it is re-read every
	// round, so poll intervals follow Git.
	Config func() *config.Repo
	// Automator commits the bumps. The Poller hands it only the automations
	// that poll the repository: an automation without poll: stays driven by
	// webhooks alone.
	Automator *Automator
	Log       *slog.Logger
}

// polled is one repository to poll, and the automations that ask for it.
type polled struct {
	Repository string
	// Every is the shortest poll interval among Automations.
	Every       time.Duration
	Automations []config.ImageAutomation
}

// Run polls until ctx is cancelled. Each repository is polled at its own
// interval, at most one poll at a time per repository. A failing repository
// is logged when it starts failing and when it recovers, not every round.
func (p *Poller) Run(ctx context.Context) {
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type outcome struct {
		repository string
		handled    string
		err        error
	}
	type state struct {
		every   time.Duration
		started time.Time // of the last poll; zero before the first
		running bool
		failing bool
		handled string // what the last poll handed to the Automator in full
	}
	states := map[string]*state{}
	done := make(chan outcome)
	var wg sync.WaitGroup
	defer func() {
		// Polls in flight stop on ctx; wait for them so none outlives Run.
		go func() { wg.Wait(); close(done) }()
		for range done {
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-done:
			st := states[o.repository]
			st.running, st.handled = false, o.handled
			switch {
			case o.err != nil && !st.failing:
				log.Warn("registry poll failing", "repository", o.repository, "err", o.err)
			case o.err == nil && st.failing:
				log.Info("registry poll recovered", "repository", o.repository)
			}
			st.failing = o.err != nil
		case <-timer.C:
		}

		var jobs map[string]polled
		if cfg := p.Config(); cfg != nil {
			jobs = plan(cfg)
		}
		for repo, st := range states {
			if _, ok := jobs[repo]; !ok && !st.running {
				log.Info("registry poll stopped", "repository", repo)
				delete(states, repo)
			}
		}
		now := time.Now()
		wake := now.Add(configEvery)
		for _, repo := range slices.Sorted(maps.Keys(jobs)) {
			job := jobs[repo]
			st := states[repo]
			if st == nil {
				st = &state{}
				states[repo] = st
			}
			if st.every != job.Every {
				log.Info("registry poll scheduled", "repository", repo, "every", job.Every.String())
				st.every = job.Every
			}
			if st.running {
				continue // its outcome wakes the loop
			}
			due := st.started.Add(job.Every)
			if !now.Before(due) {
				st.started, st.running = now, true
				due = now.Add(job.Every)
				handled := st.handled
				wg.Add(1)
				go func() {
					defer wg.Done()
					handled, err := p.poll(ctx, job, handled)
					done <- outcome{repo, handled, err}
				}()
			}
			if due.Before(wake) {
				wake = due
			}
		}
		timer.Reset(wake.Sub(now))
	}
}

// poll lists one repository's tags and reports the best tag of each
// automation, with its digest, as a push. When the pushes and automations
// are those it handled in full last time (handled), it hands the Automator
// nothing: Decide would commit nothing, and each Handle fetches the config
// repo. So, as with webhooks, a bump reverted in Git stays reverted until
// the registry changes. It returns what it handled in full, "" on failure.
// A panic (the registry client is third-party code) becomes an error.
func (p *Poller) poll(ctx context.Context, job polled, handled string) (_ string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: panic while polling: %v", job.Repository, r)
		}
	}()
	repo, err := name.NewRepository(job.Repository, nameOptions(job.Repository)...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", job.Repository, err)
	}
	rctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	opts := []remote.Option{remote.WithContext(rctx), remote.WithUserAgent("slipway")}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		return "", fmt.Errorf("%s: listing tags: %w", job.Repository, err)
	}
	var best []string
	for _, a := range job.Automations {
		if tag, ok := BestTag(a, tags); ok && !slices.Contains(best, tag) {
			best = append(best, tag)
		}
	}
	slices.SortFunc(best, CompareTags)
	var pushes []Push
	var errs []error
	for _, tag := range best {
		desc, err := remote.Head(repo.Tag(tag), opts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%s: reading the digest: %w", job.Repository, tag, err))
			continue
		}
		pushes = append(pushes, Push{Repository: job.Repository, Tag: tag, Digest: desc.Digest.String(), Source: PollSource})
	}
	seen := fmt.Sprint(job.Automations, pushes)
	if len(errs) == 0 && seen == handled {
		return handled, nil
	}

	// Only the automations that poll this repository see the push.
	auto := *p.Automator
	auto.Config = func() *config.Repo {
		cfg := p.Config()
		if cfg == nil {
			return nil
		}
		return pollView(cfg, job.Repository)
	}
	for _, push := range pushes {
		if _, err := auto.Handle(ctx, push); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return seen, nil
}

// nameOptions reaches registries on the loopback interface over plain HTTP,
// as registries for development and tests serve; every other over HTTPS.
func nameOptions(repository string) []name.Option {
	host, _, _ := strings.Cut(repository, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch strings.Trim(host, "[]") {
	case "127.0.0.1", "localhost", "::1":
		return []name.Option{name.Insecure}
	}
	return nil
}

// plan lists the repositories to poll, keyed by repository: every
// repository named by an automation with poll set, at the shortest interval
// among them.
func plan(cfg *config.Repo) map[string]polled {
	jobs := map[string]polled{}
	for _, ref := range cfg.TargetRefs() {
		_, t, _ := cfg.Target(ref.App, ref.Target)
		for _, img := range t.Images {
			if img.Poll <= 0 {
				continue
			}
			job, ok := jobs[img.Repository]
			if !ok || img.Poll < job.Every {
				job.Every = img.Poll
			}
			job.Repository = img.Repository
			job.Automations = append(job.Automations, img)
			jobs[img.Repository] = job
		}
	}
	return jobs
}

// pollView is cfg narrowed to the automations that poll repository, and the
// targets and applications that hold them.
func pollView(cfg *config.Repo, repository string) *config.Repo {
	view := &config.Repo{Accounts: cfg.Accounts, Projects: cfg.Projects, Applications: map[string]*config.Application{}}
	for name, app := range cfg.Applications {
		var targets []config.Target
		for _, t := range app.Targets {
			var images []config.ImageAutomation
			for _, img := range t.Images {
				if img.Poll > 0 && img.Repository == repository {
					images = append(images, img)
				}
			}
			if len(images) > 0 {
				t.Images = images
				targets = append(targets, t)
			}
		}
		if len(targets) > 0 {
			narrowed := *app
			narrowed.Targets = targets
			view.Applications[name] = &narrowed
		}
	}
	return view
}

// BestTag picks, from a repository's tags, the one the automation's policy
// would deploy: under tag, that tag if it exists; under semver, the highest
// version in range. A tag list carries no push times, so under tagRegex and
// newest it is the highest accepted tag in CompareTags order rather than the
// newest push — right for tags that sort by age (versions, build numbers,
// dates), wrong for commit SHAs.
func BestTag(a config.ImageAutomation, tags []string) (string, bool) {
	if a.Tag != "" {
		if slices.Contains(tags, a.Tag) {
			return a.Tag, true
		}
		return "", false
	}
	compare := CompareTags
	if a.Semver != "" {
		compare = compareVersions // every accepted tag is a version
	}
	var best string
	found := false
	for _, tag := range tags {
		if ok, _ := accepts(a, tag); !ok {
			continue
		}
		if !found || compare(tag, best) > 0 {
			best, found = tag, true
		}
	}
	return best, found
}

// CompareTags orders tags oldest-looking first: versions (v2, 1.4,
// v2.1.0-rc.1) by semantic version precedence, above every tag that is not
// one; other tags in natural order, where runs of digits compare as numbers
// (build-10 after build-9, 2026-11-25 after 2026-2-1). Tags equal by those
// rules fall back to byte order, so the order is total.
func CompareTags(a, b string) int {
	va, vb := version(a), version(b)
	switch {
	case va != nil && vb != nil:
		if c := va.Compare(vb); c != 0 {
			return c
		}
	case va != nil:
		return 1
	case vb != nil:
		return -1
	default:
		if c := naturalCompare(a, b); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// version parses a tag that looks like a version: a v prefix or a dot in
// its core. Bare numbers and dates (2026-11-25, which semver would read as
// 2026.0.0 with a prerelease) are left to natural order.
func version(tag string) *semver.Version {
	core, _, _ := strings.Cut(tag, "-")
	core, _, _ = strings.Cut(core, "+")
	if !strings.HasPrefix(tag, "v") && !strings.Contains(core, ".") {
		return nil
	}
	v, err := semver.NewVersion(tag)
	if err != nil {
		return nil
	}
	return v
}

// compareVersions orders semantic versions by precedence, then by bytes
// (v2.0.0 and 2.0.0 are the same version).
func compareVersions(a, b string) int {
	va, errA := semver.NewVersion(a)
	vb, errB := semver.NewVersion(b)
	if errA == nil && errB == nil {
		if c := va.Compare(vb); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// naturalCompare compares strings run by run: digit runs as numbers, other
// runs as bytes.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		ra, restA := run(a)
		rb, restB := run(b)
		var c int
		if isDigit(ra[0]) && isDigit(rb[0]) {
			na, nb := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			c = cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb))
		} else {
			c = strings.Compare(ra, rb)
		}
		if c != 0 {
			return c
		}
		a, b = restA, restB
	}
	return cmp.Compare(len(a), len(b))
}

// run splits s after its first run of digits or of non-digits.
func run(s string) (string, string) {
	digits := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
