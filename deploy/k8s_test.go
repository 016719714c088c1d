package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/homalb/homalb/sweep"
)

const manifestPath = "k8s/sweep-job.yaml"

// job is the part of a batch/v1 Job that the checks below read.
type job struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    *int   `yaml:"completions"`
		Parallelism    *int   `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				RestartPolicy string      `yaml:"restartPolicy"`
				Containers    []container `yaml:"containers"`
				Volumes       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					PersistentVolumeClaim *struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

func readJob(t *testing.T) (job, container) {
	t.Helper()
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	var j job
	if err := yaml.Unmarshal(data, &j); err != nil {
		t.Fatalf("%s: %v", manifestPath, err)
	}
	cs := j.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%s: %d containers, want 1 (the sweep)", manifestPath, len(cs))
	}
	return j, cs[0]
}

// TestJobIsIndexed checks what makes the Job a set of shards: one pod per
// index, all at once, each index retried until it succeeds.
func TestJobIsIndexed(t *testing.T) {
	j, _ := readJob(t)
	if j.APIVersion != "batch/v1" || j.Kind != "Job" {
		t.Errorf("apiVersion %q kind %q, want batch/v1 Job", j.APIVersion, j.Kind)
	}
	if j.Spec.CompletionMode != "Indexed" {
		t.Errorf("completionMode %q, want Indexed: without it pods get no JOB_COMPLETION_INDEX", j.Spec.CompletionMode)
	}
	if j.Spec.Completions == nil || *j.Spec.Completions < 1 {
		t.Fatalf("completions %v, want a positive count: the number of shards", j.Spec.Completions)
	}
	if j.Spec.Parallelism == nil || *j.Spec.Parallelism != *j.Spec.Completions {
		t.Errorf("parallelism %v, want completions (%d): every shard at once", j.Spec.Parallelism, *j.Spec.Completions)
	}
	if rp := j.Spec.Template.Spec.RestartPolicy; rp != "OnFailure" && rp != "Never" {
		t.Errorf("restartPolicy %q: a Job's pods need OnFailure or Never", rp)
	}
}

// k8sVar is Kubernetes' $(NAME) reference in a container's args.
var k8sVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// podArgs returns the arguments pod index gets: the container's args with
// $(NAME) expanded as the kubelet does, from the container's env and the
// JOB_COMPLETION_INDEX the Job controller adds to it.
func podArgs(t *testing.T, c container, index int) []string {
	t.Helper()
	env := map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(index)}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = k8sVar.ReplaceAllStringFunc(a, func(ref string) string {
			name := k8sVar.FindStringSubmatch(ref)[1]
			v, ok := env[name]
			if !ok {
				t.Errorf("args[%d] %q: $(%s) is not in the container's environment; Kubernetes would pass it unexpanded", i, a, name)
			}
			return v
		})
	}
	return out
}

// flag returns the value after name in args.
func flag(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// TestJobShardsCoverTheExperiment expands every pod's arguments and checks
// that pod k runs shard k of completions, into a directory of its own on
// the results volume, from the experiment on the ConfigMap volume.
func TestJobShardsCoverTheExperiment(t *testing.T) {
	j, c := readJob(t)
	n := *j.Spec.Completions
	if len(c.Command) != 0 {
		t.Errorf("command %q replaces the image's entrypoint (homalb); give only args", c.Command)
	}
	mounts := map[string]string{} // volume kind → mount path
	for _, m := range c.VolumeMounts {
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				mounts["configMap"] = m.MountPath
			}
			if v.Name == m.Name && v.PersistentVolumeClaim != nil {
				mounts["pvc"] = m.MountPath
			}
		}
	}
	if mounts["configMap"] == "" || mounts["pvc"] == "" {
		t.Fatalf("volume mounts %v: want a ConfigMap (the experiment) and a PersistentVolumeClaim (the results)", mounts)
	}
	outs := map[string]int{}
	for k := range n {
		args := podArgs(t, c, k)
		if len(args) < 2 || args[0] != "sweep" || !strings.HasPrefix(args[1], mounts["configMap"]+"/") {
			t.Fatalf("pod %d: args %q, want sweep EXPERIMENT (under %s) …", k, args, mounts["configMap"])
		}
		s, ok := flag(args, "--shard")
		if !ok {
			t.Fatalf("pod %d: args %q have no --shard", k, args)
		}
		i, m, err := sweep.ParseShard(s)
		if err != nil || i != k || m != n {
			t.Errorf("pod %d: --shard %q is shard %d of %d (%v), want %d/%d", k, s, i, m, err, k, n)
		}
		o, ok := flag(args, "-o")
		if !ok || !strings.HasPrefix(o, mounts["pvc"]+"/") {
			t.Fatalf("pod %d: -o %q, want a directory under the results volume %s", k, o, mounts["pvc"])
		}
		if prev, dup := outs[o]; dup {
			t.Errorf("pods %d and %d both write %s", prev, k, o)
		}
		outs[o] = k
	}
}

// TestJobArgsRunHomalb gives each pod's arguments to the real homalb (with
// --dry-run, and a local experiment for the ConfigMap's): a renamed flag or
// a malformed shard fails here, not in the cluster.
func TestJobArgsRunHomalb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds homalb; skipped with -short")
	}
	j, c := readJob(t)
	bin := filepath.Join(t.TempDir(), "homalb")
	build := exec.Command("go", "build", "-o", bin, "../cmd/homalb")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Any experiment stands for the ConfigMap's; a synthetic workload needs
	// no tables.
	exp := filepath.Join(t.TempDir(), "experiment.yaml")
	if err := os.WriteFile(exp, []byte("name: k8s\nbase: {workload: \"exp:2000\", duration_ns: 1ms}\naxes: {policy: [gen2, gen6]}\nseeds: 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for k := range *j.Spec.Completions {
		args := podArgs(t, c, k)
		args[1] = exp
		args = append(args, "--dry-run")
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), " runs (") {
			t.Errorf("pod %d: homalb %s: %v: %s", k, strings.Join(args, " "), err, out)
		}
	}
}

// TestImageNamedConsistently: the Job runs the image that the Containerfile
// and deploy/README.md tell you to build and push.
func TestImageNamedConsistently(t *testing.T) {
	_, c := readJob(t)
	repo := imageRepo(c.Image)
	if repo == "" {
		t.Fatalf("image %q has no repository", c.Image)
	}
	for _, doc := range []string{"Containerfile", "README.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		built := regexp.MustCompile(`(?:podman|docker) build .*-t (\S+)`).FindAllStringSubmatch(string(data), -1)
		pushed := regexp.MustCompile(`(?:podman|docker) push (\S+)`).FindAllStringSubmatch(string(data), -1)
		if len(built) == 0 || len(pushed) == 0 {
			t.Errorf("%s: no build -t IMAGE or push IMAGE command", doc)
		}
		for _, m := range append(built, pushed...) {
			if imageRepo(m[1]) != repo {
				t.Errorf("%s: %q names image %s; %s runs %s", doc, m[0], imageRepo(m[1]), manifestPath, repo)
			}
		}
	}
}

// imageRepo strips the tag or digest from an image reference.
func imageRepo(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

func TestImageRepo(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/a/b:latest":         "ghcr.io/a/b",
		"ghcr.io/a/b@sha256:0123":    "ghcr.io/a/b",
		"ghcr.io/a/b:v1@sha256:0123": "ghcr.io/a/b",
		"localhost:5000/b":           "localhost:5000/b",
		"localhost:5000/b:1":         "localhost:5000/b",
		"b":                          "b",
	} {
		if got := imageRepo(in); got != want {
			t.Errorf("imageRepo(%q) = %q, want %q", in, got, want)
		}
	}
}
