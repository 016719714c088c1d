package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// No container engine runs on the build machines, so the image is never
// built here; these tests check what can be checked without one: the file's
// shape, and that it agrees with go.mod and the Job.

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct {
	Op   string // upper case: FROM, RUN, …
	Args string
	Line int
}

// stage is the instructions from one FROM to the next.
type stage struct {
	From, Name string
	Body       []instruction
}

func parseContainerfile(t *testing.T, path string) (globalArgs map[string]string, stages []stage) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ins []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // also inside a continued instruction, as the builders do
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSpace(strings.TrimSuffix(trimmed, `\`)) + " ")
			continue
		}
		cur.WriteString(trimmed)
		op, args, _ := strings.Cut(cur.String(), " ")
		ins = append(ins, instruction{Op: strings.ToUpper(op), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a continued line", path)
	}
	globalArgs = map[string]string{}
	for _, in := range ins {
		switch {
		case in.Op == "FROM":
			f := strings.Fields(in.Args)
			s := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0 && in.Op == "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			globalArgs[k] = v
		case len(stages) == 0:
			t.Fatalf("%s:%d: %s before the first FROM", path, in.Line, in.Op)
		default:
			stages[len(stages)-1].Body = append(stages[len(stages)-1].Body, in)
		}
	}
	return globalArgs, stages
}

func (s stage) find(op string) []instruction {
	var out []instruction
	for _, in := range s.Body {
		if in.Op == op {
			out = append(out, in)
		}
	}
	return out
}

func TestContainerfile(t *testing.T) {
	args, stages := parseContainerfile(t, "Containerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a Go build stage and a runtime stage", len(stages))
	}
	build, run := stages[0], stages[len(stages)-1]

	// The build stage: the Go of go.mod, a static binary of cmd/homalb
	// whose built-in workload tables load with no files around.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if args["GO_VERSION"] != string(m[1]) {
		t.Errorf("ARG GO_VERSION=%s, go.mod says go %s", args["GO_VERSION"], m[1])
	}
	if build.From != "docker.io/library/golang:${GO_VERSION}" || build.Name == "" {
		t.Errorf("first stage FROM %s AS %q, want docker.io/library/golang:${GO_VERSION} AS a name", build.From, build.Name)
	}
	var gobuild, selfcheck string
	for _, in := range build.find("RUN") {
		if strings.Contains(in.Args, "go build") {
			gobuild = in.Args
		}
		if strings.Contains(in.Args, "workload") {
			selfcheck = in.Args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/homalb", "-o /out/homalb"} {
		if !strings.Contains(gobuild, want) {
			t.Errorf("build stage's go build %q lacks %s", gobuild, want)
		}
	}
	for _, w := range []string{"w1", "w2", "w3", "w4", "w5", "unset HOMALB_WORKLOADS"} {
		if !strings.Contains(selfcheck, w) {
			t.Errorf("build stage does not check that the binary loads its built-in tables (%s) from an empty directory: %q", w, selfcheck)
		}
	}
	if !hasCopy(build, ". .") {
		t.Error("build stage does not COPY . . (the context is the repository)")
	}

	// The runtime stage: small, the binary alone, not root, homalb as the
	// entrypoint (the Job passes only args).
	if !strings.HasPrefix(run.From, "gcr.io/distroless/static") && run.From != "scratch" {
		t.Errorf("runtime stage FROM %s, want distroless/static or scratch (the binary is static)", run.From)
	}
	var dest string
	for _, in := range run.find("COPY") {
		if f := strings.Fields(in.Args); len(f) == 3 && f[0] == "--from="+build.Name && f[1] == "/out/homalb" {
			dest = f[2]
		}
	}
	if dest == "" {
		t.Fatalf("runtime stage does not COPY --from=%s /out/homalb", build.Name)
	}
	ep := run.find("ENTRYPOINT")
	var argv []string
	if len(ep) != 1 || json.Unmarshal([]byte(ep[0].Args), &argv) != nil || len(argv) != 1 || argv[0] != dest {
		t.Errorf("ENTRYPOINT %v, want exec form [%q]: the image has no shell", ep, dest)
	}
	users := run.find("USER")
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1].Args, "root") || strings.HasPrefix(users[len(users)-1].Args, "0") {
		t.Errorf("runtime USER %v, want a non-root user (the Job sets runAsNonRoot)", users)
	}

	// The context is the repository: keep .git and results out of it.
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "/results/"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(ignore) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

func hasCopy(s stage, args string) bool {
	for _, in := range s.find("COPY") {
		if in.Args == args {
			return true
		}
	}
	return false
}

// TestParseContainerfile pins the parser on a file with continuations,
// comments inside them and two stages.
func TestParseContainerfile(t *testing.T) {
	path := t.TempDir() + "/Containerfile"
	os.WriteFile(path, []byte("# c\nARG V=1\nFROM a:${V} AS b\nRUN x \\\n  # z\n  y\nFROM c\nCOPY --from=b /o /p\n"), 0o644)
	args, st := parseContainerfile(t, path)
	if args["V"] != "1" || len(st) != 2 || st[0].From != "a:${V}" || st[0].Name != "b" || st[1].Name != "" {
		t.Fatalf("args %v stages %+v", args, st)
	}
	if r := st[0].find("RUN"); len(r) != 1 || r[0].Args != "x y" || r[0].Line != 4 {
		t.Errorf("RUN %+v, want x y at line 4", r)
	}
	if !hasCopy(st[1], "--from=b /o /p") {
		t.Errorf("stage 2 %+v", st[1])
	}
}
