// Package pipeline runs pipelines: it matches triggers (image pushes, Git
// pushes, cron, other pipelines, generic webhooks, people) against the
// pipelines in the config repo, resolves their expected artifacts, and
// executes their stages as a DAG, saving the execution (the console's
// release order) at every state change so that a restarted server resumes
// it without repeating what it already did.
//
// Stages that change desired state never touch a cluster: they commit to
// the config repo, with trailers naming the execution and the stage, and
// ask the reconciler to sync the target. A resumed stage looks for its own
// commit before committing again.
package pipeline
