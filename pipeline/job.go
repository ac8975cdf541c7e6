package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// maxJobLog bounds the job log a stage keeps.
const maxJobLog = 64 << 10

// runJob runs a Kubernetes Job in the target's namespace and waits for it
// to complete, keeping its pods' logs. A Job is a run, not desired state,
// so it is created directly rather than committed; its name is derived from
// the execution and stage, so a resumed attempt finds the Job it created.
func (s *stageRun) runJob(ctx context.Context) error {
	x := s.execution()
	cfg := s.e.o.Reconciler.Config()
	if cfg == nil {
		return errors.New("no valid config loaded")
	}
	_, t, ok := cfg.Target(x.Application, s.def.Target)
	if !ok {
		return fmt.Errorf("target %s/%s not found", x.Application, s.def.Target)
	}
	acct := cfg.Accounts[t.Account]
	if acct == nil || s.e.o.Connect == nil {
		return fmt.Errorf("account %s cannot be reached", t.Account)
	}
	rc, err := s.e.o.Connect(ctx, acct)
	if err != nil {
		return fmt.Errorf("account %s: %w", t.Account, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(s.def.Manifest), &job); err != nil {
		return fmt.Errorf("job manifest: %w", err)
	}
	base := job.Name
	if base == "" {
		base = job.GenerateName
	}
	job.Name = jobName(strings.TrimSuffix(base, "-"), x.ID, s.sideEffectKey())
	job.GenerateName = ""
	job.Namespace = t.Namespace
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels["app.kubernetes.io/managed-by"] = "slipway"
	job.Labels["slipway.dev/application"] = x.Application
	job.Labels["slipway.dev/release"] = fmt.Sprint(x.ID)

	jobs := cs.BatchV1().Jobs(t.Namespace)
	_, err = jobs.Create(ctx, &job, metav1.CreateOptions{FieldManager: s.e.o.FieldManager})
	switch {
	case apierrors.IsAlreadyExists(err):
		s.logf("job %s/%s exists from an earlier attempt; following it", t.Namespace, job.Name)
	case err != nil:
		return fmt.Errorf("creating job %s/%s: %w", t.Namespace, job.Name, err)
	default:
		s.logf("created job %s/%s", t.Namespace, job.Name)
	}
	s.output(func(o *StageOutputs) { o.Job = t.Namespace + "/" + job.Name })

	for {
		got, err := jobs.Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading job %s: %w", job.Name, err)
		}
		if done, failed, msg := jobFinished(got); done {
			logs := podLogs(ctx, cs, t.Namespace, job.Name)
			s.output(func(o *StageOutputs) { o.JobLog = logs })
			if failed {
				return fmt.Errorf("job %s failed: %s", job.Name, msg)
			}
			s.logf("job %s completed", job.Name)
			return nil
		}
		if err := s.sleep(ctx, max(s.e.o.Poll, 500*1e6)); err != nil {
			return err
		}
	}
}

// jobName makes a DNS-1123 name unique to an execution's stage.
func jobName(base string, id int64, key string) string {
	sum := sha256.Sum256([]byte(key))
	suffix := fmt.Sprintf("-%d-%s", id, hex.EncodeToString(sum[:])[:6])
	if base == "" {
		base = "job"
	}
	if len(base)+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-len(suffix)], "-.")
	}
	return base + suffix
}

// jobFinished reads a Job's terminal conditions.
func jobFinished(j *batchv1.Job) (done, failed bool, msg string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, false, ""
		case batchv1.JobFailed:
			return true, true, strings.TrimSpace(c.Reason + " " + c.Message)
		}
	}
	return false, false, ""
}

// podLogs gathers the logs of a Job's pods, capped at maxJobLog.
func podLogs(ctx context.Context, cs kubernetes.Interface, ns, job string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return "listing pods: " + err.Error()
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	var b strings.Builder
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			raw, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(ctx)
			fmt.Fprintf(&b, "==> pod %s, container %s <==\n", p.Name, c.Name)
			if err != nil {
				fmt.Fprintf(&b, "(no log: %v)\n", err)
				continue
			}
			b.Write(raw)
			if len(raw) > 0 && raw[len(raw)-1] != '\n' {
				b.WriteByte('\n')
			}
			if b.Len() > maxJobLog {
				return b.String()[:maxJobLog] + "\n… (truncated)"
			}
		}
	}
	return b.String()
}
