#!/usr/bin/env bash
# End-to-end test of deploy/slurm/sweep.sbatch on a real one-node Slurm on
# localhost (issue 17). It
#   1. installs munge and Slurm from Debian if they are missing (root only),
#   2. starts munged, slurmctld and slurmd with a private configuration
#      (a temporary directory, free ports, this machine's cores),
#   3. builds homalb once and runs deploy/slurm/e2e.yaml on one machine,
#   4. submits it as `sbatch --array=0-3 deploy/slurm/sweep.sbatch`, kills
#      task 1 after it has written a run and before it has written all,
#      waits for the rest, resubmits task 1 alone, and checks that the runs it
#      had written are kept (same files, not rerun),
#   5. merges the shards and checks results.csv and summary.csv are
#      byte-identical to the one-machine sweep's,
#   6. checks that a non-array submission and a missing experiment fail with
#      one line,
# and stops every daemon and job it started, whatever happens.
#
# Exit status: 0 passed; 1 failed; 77 skipped because Slurm cannot be had
# here (not root, not Linux, or the packages do not install), said on stderr.
# HOMALB_E2E_REQUIRE=1 turns a skip into a failure. HOMALB_E2E_KEEP=1 keeps
# the temporary directory (logs, shards) for a look afterwards.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
t0=$SECONDS
say() { echo "slurm e2e [$((SECONDS - t0))s]: $*"; }
fail() {
	echo "slurm e2e: FAIL: $*" >&2
	exit 1
}
skip() {
	if [[ ${HOMALB_E2E_REQUIRE:-} == 1 ]]; then
		fail "Slurm cannot be had and HOMALB_E2E_REQUIRE=1: $*"
	fi
	echo "slurm e2e: SKIPPED (exit 77), not passed: $*" >&2
	exit 77
}

[[ $(uname -s) == Linux ]] || skip "Slurm daemons need Linux; this is $(uname -s)"
((EUID == 0)) || skip "starting slurmd (which runs jobs as their owner) and installing packages need root; run as root"

# --- 1. packages -------------------------------------------------------------
need=(munged slurmctld slurmd sbatch squeue scancel scontrol sinfo)
missing() {
	local c
	for c in "${need[@]}"; do command -v "$c" >/dev/null || echo "$c"; done
}
policy_rc=
work=
pids=()
cleanup() {
	local rc=$?
	set +e
	if [[ -n $work && -f $work/slurm.conf ]] && ((${#pids[@]} > 0)); then
		# Jobs first, so that no slurmstepd outlives its slurmd.
		local jobs
		mapfile -t jobs < <(SLURM_CONF=$work/slurm.conf squeue -h -o %A 2>/dev/null)
		if ((${#jobs[@]} > 0)); then
			SLURM_CONF=$work/slurm.conf scancel --quiet "${jobs[@]}"
			for _ in $(seq 50); do
				[[ -z $(SLURM_CONF=$work/slurm.conf squeue -h -o %A 2>/dev/null) ]] && break
				sleep 0.1
			done
		fi
	fi
	local p
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		p=${pids[i]}
		kill -TERM "$p" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [[ -n $work ]]; then
		# A job step's slurmstepd is not a child of ours: find those of this
		# cluster by the configuration path in their environment.
		local e
		for e in /proc/[0-9]*/environ; do
			p=${e#/proc/}
			p=${p%/environ}
			[[ $p != "$$" ]] && grep -qz "^SLURM_CONF=$work/slurm.conf\$" "$e" 2>/dev/null && kill -KILL "$p" 2>/dev/null
		done
		if ((rc != 0)) && [[ -d $work/log ]]; then
			for f in "$work"/log/*; do
				echo "--- last lines of $f" >&2
				tail -n 15 "$f" >&2
			done
		fi
		if [[ ${HOMALB_E2E_KEEP:-} == 1 ]]; then
			echo "slurm e2e: kept $work" >&2
		else
			rm -rf "$work"
		fi
	fi
	[[ -n $policy_rc ]] && rm -f "$policy_rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n $(missing) ]]; then
	command -v apt-get >/dev/null || skip "no $(missing | tr '\n' ' ')and no apt-get to install munge and Slurm"
	say "installing munge and Slurm from Debian (missing: $(missing | tr '\n' ' '))"
	# The packages would start system-wide daemons from their init scripts;
	# this test starts its own, so forbid that for the install's duration.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy_rc=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
		chmod 755 "$policy_rc"
	fi
	log=$(mktemp)
	if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client; } >"$log" 2>&1; then
		tail -n 5 "$log" >&2
		rm -f "$log"
		skip "apt-get could not install munge slurmctld slurmd slurm-client (its last lines above)"
	fi
	rm -f "$log"
	[[ -n $policy_rc ]] && rm -f "$policy_rc" && policy_rc=
	[[ -z $(missing) ]] || skip "installed the packages but still missing: $(missing | tr '\n' ' ')"
	say "installed"
fi

# --- 2. a private one-node cluster ------------------------------------------
work=$(mktemp -d /tmp/homalb-slurm-e2e.XXXXXX)
chmod 755 "$work" # munged wants no group- or world-writable parents
mkdir -p "$work"/{munge,state,spool,log,jobs,bin}
export SLURM_CONF=$work/slurm.conf

# free_port prints a TCP port from FROM up on which nothing listens.
free_port() {
	local p
	for ((p = $1; p < $1 + 200; p++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	fail "no free TCP port in $1..$(($1 + 199))"
}
ctld_port=$(free_port 16817)
slurmd_port=$(free_port $((ctld_port + 1)))
node=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
sock=$work/munge/munge.socket

head -c 1024 /dev/urandom >"$work/munge/munge.key"
chmod 600 "$work/munge/munge.key"
# --force: munged refuses to run as root otherwise; this is a throwaway key.
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$sock" \
	--pid-file="$work/munge/munged.pid" --seed-file="$work/munge/seed" \
	--log-file="$work/log/munged.log" >>"$work/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
munge --socket="$sock" -n </dev/null | unmunge --socket="$sock" >/dev/null ||
	fail "munged does not answer on $sock"

cat >"$SLURM_CONF" <<EOF
# Written by deploy/slurm/test-e2e.sh: one node, $node, on localhost.
ClusterName=homalb-e2e
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
# Finished jobs stay visible to scontrol long enough to read their exit codes.
MinJobAge=3600
SchedulerParameters=sched_interval=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=e2e Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i -f "$SLURM_CONF" >>"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" >>"$work/log/slurmd.out" 2>&1 &
pids+=($!)
ready=
for _ in $(seq 120); do
	state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
	[[ $state == idle ]] && ready=1 && break
	sleep 0.5
done
[[ -n $ready ]] || fail "node $node not idle within 60 s (sinfo says '${state:-nothing}')"
say "slurmctld on :$ctld_port and slurmd on :$slurmd_port up; node $node idle with $cpus CPUs"

# --- 3. the binary and the one-machine reference -----------------------------
export HOMALB=$work/bin/homalb
go build -o "$HOMALB" ./cmd/homalb
exp=deploy/slurm/e2e.yaml
"$HOMALB" sweep "$exp" -o "$work/one" >"$work/log/one-machine.out"
say "one machine: $(head -n 1 "$work/log/one-machine.out")"

# --- 4. the array, a killed task, its resubmission ---------------------------
out=$work/jobs/out
# The script asks for 4 CPUs a task; this node may have 2, and one CPU a task
# is what makes two tasks share it. --chdir: where workloads are looked up.
submit=(sbatch --parsable --chdir="$repo" --cpus-per-task=1 --mem=512M --time=10)

# state_of JOB prints JobState=... ExitCode=... of one job or array task.
state_of() {
	scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]* .* ExitCode=[0-9:]*' | sed 's/ .* ExitCode/ ExitCode/'
}
# wait_gone JOB SECONDS waits until no task of JOB is pending or running.
wait_gone() {
	local end=$((SECONDS + $2))
	while [[ -n $(squeue -h -j "$1" -o %i 2>/dev/null) ]]; do
		((SECONDS < end)) || fail "job $1 still queued or running after $2 s: $(squeue -h -j "$1" -o '%i %T %R' | tr '\n' ';')"
		sleep 0.2
	done
}
json_runs() { find "$1" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
per_shard=6 # deploy/slurm/e2e.yaml has 24 runs: 6 a shard of 4

jid=$("${submit[@]}" --array=0-3 --output="$work/log/array-%a.out" deploy/slurm/sweep.sbatch "$exp" "$out")
say "submitted array job $jid (tasks 0-3)"
victim=1
runs=$out/shard-$victim/runs
end=$((SECONDS + 120))
until (($(json_runs "$runs") >= 1)); do
	((SECONDS < end)) || fail "task ${jid}_$victim wrote no run within 120 s: $(state_of "${jid}_$victim")"
	sleep 0.05
done
# SIGKILL to the task's process, as a crashed node would: nothing is flushed
# and the run in flight is lost. The process is the job's batch step, which
# exec'd homalb; it is found by its Slurm environment.
pid=
for e in /proc/[0-9]*/environ; do
	if grep -qz "^SLURM_ARRAY_JOB_ID=$jid\$" "$e" 2>/dev/null && grep -qz "^SLURM_ARRAY_TASK_ID=$victim\$" "$e" 2>/dev/null &&
		[[ $(readlink "${e%/environ}/exe" 2>/dev/null) == "$HOMALB" ]]; then
		pid=${e#/proc/}
		pid=${pid%/environ}
	fi
done
[[ -n $pid ]] || fail "no homalb process for task ${jid}_$victim: $(state_of "${jid}_$victim")"
kill -KILL "$pid"
wait_gone "${jid}_$victim" 60
kept=$(json_runs "$runs")
say "killed task $victim (pid $pid) with SIGKILL after it wrote $kept of $per_shard runs: $(state_of "${jid}_$victim")"
((kept >= 1 && kept < per_shard)) || fail "task $victim finished $kept of $per_shard runs before the kill landed; the test needs a kill mid-run"
mapfile -t kept_files < <(cd "$runs" && ls -- *.json)
(cd "$runs" && stat -c '%n %i %Y' -- "${kept_files[@]}" && sha256sum -- "${kept_files[@]}") >"$work/kept.before"

wait_gone "$jid" 300
for t in 0 2 3; do
	s=$(state_of "${jid}_$t")
	[[ $s == "JobState=COMPLETED ExitCode=0:0" ]] || fail "task $t: $s; its output: $(tail -n 3 "$work/log/array-$t.out")"
	grep -q "$per_shard in this shard: $per_shard ran, 0 already done" "$work/log/array-$t.out" ||
		fail "task $t did not run its $per_shard runs: $(head -n 1 "$work/log/array-$t.out")"
done
say "tasks 0, 2, 3 completed"

shards=("$out"/shard-{0..3})
if "$HOMALB" merge "${shards[@]}" -o "$work/early" >"$work/log/early-merge.out" 2>&1; then
	fail "merge succeeded with task $victim killed: the kill lost nothing, so the resubmission tests nothing"
fi
grep -q "runs missing" "$work/log/early-merge.out" || fail "merge without shard $victim's runs said: $(cat "$work/log/early-merge.out")"
say "merge before the resubmission refuses: $(grep -o 'merge: [0-9]* of [0-9]* runs missing' "$work/log/early-merge.out")"

rid=$("${submit[@]}" --array=$victim --output="$work/log/resubmit-%a.out" deploy/slurm/sweep.sbatch "$exp" "$out" 4)
wait_gone "$rid" 180
s=$(state_of "${rid}_$victim")
[[ $s == "JobState=COMPLETED ExitCode=0:0" ]] || fail "resubmitted task $victim: $s: $(tail -n 3 "$work/log/resubmit-$victim.out")"
want="$per_shard in this shard: $((per_shard - kept)) ran, $kept already done"
grep -q "$want" "$work/log/resubmit-$victim.out" || fail "resubmitted task $victim: want '$want', got: $(head -n 1 "$work/log/resubmit-$victim.out")"
(cd "$runs" && stat -c '%n %i %Y' -- "${kept_files[@]}" && sha256sum -- "${kept_files[@]}") >"$work/kept.after"
cmp -s "$work/kept.before" "$work/kept.after" || fail "the runs task $victim wrote before the kill were rewritten: $(diff "$work/kept.before" "$work/kept.after" | head -n 4)"
say "resubmitted task $victim as job $rid: $want; the $kept kept run files are untouched (inode, mtime, sha256)"

# --- 5. the merge is the one machine's ---------------------------------------
"$HOMALB" merge "${shards[@]}" -o "$work/merged" >"$work/log/merge.out"
for f in results.csv summary.csv; do
	cmp "$work/one/$f" "$work/merged/$f" || fail "merged $f differs from the one-machine sweep's"
done
rows=$(($(wc -l <"$work/merged/results.csv") - 1))
((rows == 4 * per_shard)) || fail "merged results.csv has $rows runs, want $((4 * per_shard))"
say "merged $rows runs: results.csv and summary.csv byte-identical to one machine's ($(sha256sum "$work/merged/results.csv" | cut -c1-12))"

# --- 6. bad input fails with one line ----------------------------------------
bad() { # bad NAME WANT SBATCH-ARGS...: the job must fail with one line matching WANT
	local name=$1 want=$2
	shift 2
	local id
	id=$("${submit[@]}" --output="$work/log/bad-$name.out" "$@")
	wait_gone "$id" 60
	local s lines
	s=$(scontrol -o show job "$id" | grep -o ' ExitCode=[0-9:]*' | sort -u | tr '\n' ' ')
	[[ $s != " ExitCode=0:0 " ]] || fail "$name: the job succeeded"
	lines=$(cat "$work"/log/bad-"$name".out)
	[[ $(wc -l <<<"$lines") == 1 && $lines == *"$want"* ]] || fail "$name: want one line with '$want', got: $lines"
	say "$name: $s: $lines"
}
bad not-array "not an array job" deploy/slurm/sweep.sbatch "$exp" "$out"
bad no-experiment "no such file" --array=0 deploy/slurm/sweep.sbatch deploy/slurm/no-such.yaml "$out"

say "PASS: 4 array tasks, one killed and resubmitted, merge byte-identical to one machine"
