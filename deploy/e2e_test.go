package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2ESkipsLoudly: where Slurm cannot be had — here, without root — the
// end-to-end script exits 77 with one line saying why, never 0, and
// HOMALB_E2E_REQUIRE=1 makes that a failure. (The script itself, run as
// root, is the real test; .ci/run runs it.)
func TestE2ESkipsLoudly(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed; the script needs it")
	}
	var asUser []string
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root with no setpriv to drop root: the script would start a real Slurm")
		}
		asUser = []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"}
	}
	// A copy in a directory anyone can read, laid out as in the repository:
	// the checkout itself may be closed to the unprivileged user.
	dir, err := os.MkdirTemp("", "e2e-skip")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	script := filepath.Join(dir, "deploy", "slurm", "test-e2e.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("slurm/test-e2e.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		require string
		code    int
		want    string
	}{
		{"", 77, "slurm e2e: SKIPPED (exit 77), not passed: "},
		{"1", 1, "slurm e2e: FAIL: Slurm cannot be had and HOMALB_E2E_REQUIRE=1: "},
	} {
		argv := append(append([]string(nil), asUser...), bash, script)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "HOMALB_E2E_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "HOMALB_E2E_REQUIRE="+c.require)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), c.want) || !strings.Contains(stderr.String(), "root") {
			t.Errorf("HOMALB_E2E_REQUIRE=%q: exit %d, stderr %q; want exit %d and one line %q… naming root", c.require, code, stderr.String(), c.code, c.want)
		}
		if stdout.Len() > 0 {
			t.Errorf("HOMALB_E2E_REQUIRE=%q: stdout %q, want nothing: it did not get as far as doing anything", c.require, stdout.String())
		}
	}
}
