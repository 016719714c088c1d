package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run slurm/sweep.sbatch with bash, as slurmd would, with the
// SLURM_* variables a task gets; slurm/test-e2e.sh runs it under Slurm.

const sbatchPath = "slurm/sweep.sbatch"

// runSbatch runs the script with env (on top of an environment without
// SLURM_* or HOMALB) and returns its exit status and stderr.
func runSbatch(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed; the script needs it")
	}
	cmd := exec.Command(bash, append([]string{sbatchPath}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "HOMALB=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// fakeHomalb writes a stand-in for homalb that records its arguments, one
// a line, in the file it returns.
func fakeHomalb(t *testing.T) (bin, argsFile string) {
	dir := t.TempDir()
	bin, argsFile = filepath.Join(dir, "homalb"), filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

func array(id, min, max, count string) []string {
	return []string{"SLURM_ARRAY_TASK_ID=" + id, "SLURM_ARRAY_TASK_MIN=" + min, "SLURM_ARRAY_TASK_MAX=" + max, "SLURM_ARRAY_TASK_COUNT=" + count}
}

func TestSbatchRefusesBadInput(t *testing.T) {
	bin, _ := fakeHomalb(t)
	exp := "../examples/quick.yaml"
	ok := append(array("1", "0", "3", "4"), "HOMALB="+bin)
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no arguments", ok, nil, "0 arguments, want 2 or 3"},
		{"missing experiment", ok, []string{"no/such.yaml", "out"}, "experiment no/such.yaml: no such file"},
		{"not an array job", []string{"HOMALB=" + bin}, []string{exp, "out"}, "not an array job"},
		{"one task of an array without SHARDS", append(array("3", "3", "3", "1"), "HOMALB="+bin), []string{exp, "out"}, "is not 0-N"},
		{"strided array", append(array("2", "0", "6", "4"), "HOMALB="+bin), []string{exp, "out"}, "is not 0-N"},
		{"task beyond SHARDS", append(array("4", "4", "4", "1"), "HOMALB="+bin), []string{exp, "out", "4"}, "only 4 shards"},
		{"SHARDS not a number", ok, []string{exp, "out", "four"}, "SHARDS four"},
		{"SHARDS zero", ok, []string{exp, "out", "0"}, "SHARDS 0"},
		{"no homalb", append(array("1", "0", "3", "4"), "HOMALB=/no/such/homalb"), []string{exp, "out"}, "homalb binary /no/such/homalb: not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stderr := runSbatch(t, c.env, c.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2; stderr %q", code, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "sweep.sbatch: ") || !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q, want one line 'sweep.sbatch: …%s…'", stderr, c.want)
			}
		})
	}
}

func TestSbatchRunsItsShard(t *testing.T) {
	exp := "../examples/quick.yaml"
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"task 2 of 0-3", append(array("2", "0", "3", "4"), "SLURM_CPUS_PER_TASK=3"), []string{exp, "res"},
			"sweep " + exp + " --shard 2/4 --workers 3 -o res/shard-2"},
		{"task 1 resubmitted alone", array("1", "1", "1", "1"), []string{exp, "res", "4"},
			"sweep " + exp + " --shard 1/4 --workers 0 -o res/shard-1"},
		{"throttled array 0-7%2", array("7", "0", "7", "8"), []string{exp, "res"},
			"sweep " + exp + " --shard 7/8 --workers 0 -o res/shard-7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin, argsFile := fakeHomalb(t)
			code, stderr := runSbatch(t, append(c.env, "HOMALB="+bin), c.args...)
			if code != 0 {
				t.Fatalf("exit status %d: %s", code, stderr)
			}
			got, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(strings.Fields(string(got)), " "); g != c.want {
				t.Errorf("homalb %s, want homalb %s", g, c.want)
			}
		})
	}
}
