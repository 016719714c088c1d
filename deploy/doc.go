// Package deploy holds no code. It is the home of the files that take a
// sweep beyond one machine, and of the tests that keep them consistent with
// each other and with `homalb sweep --shard`:
//
//   - slurm/sweep.sbatch, a Slurm array job (task k of N runs shard k/N);
//     slurm/test-e2e.sh runs it on a real one-node Slurm and checks the
//     merge against one machine's sweep;
//   - k8s/sweep-job.yaml, a Kubernetes Indexed Job doing the same with pods;
//   - Containerfile, the image that Job runs.
//
// README.md beside this file says how to build and push the image.
package deploy
